"""Lua that the scripts writing a whole thread at once share (``archive``'s import, ``migration``'s target).

A script runs as one unit, like MULTI/EXEC, but can decide on what it reads; these pieces are pasted into
those scripts' text.
"""

from __future__ import annotations

#: RPUSH ``ARGV[5..]`` onto ``KEYS[1]`` a thousand at a time: Lua's ``unpack`` is bounded by its stack.
PUSH_ENTRIES_FROM_ARGV_5 = """
local i = 5
while i <= #ARGV do
  local last = math.min(i + 999, #ARGV)
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, last))
  i = last + 1
end
"""
