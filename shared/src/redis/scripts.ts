// The Lua behind every atomic operation, shared by both adapters. Lua rather than MULTI/EXEC because the
// Upstash REST API (and its local emulator) serve EVAL but not transactions. Each script names every key it
// touches in KEYS: one, but for readAndRenew and writeOnce.

/** compareAndSet. ARGV: mode ('absent' | 'value'), expected, next, ttlMs ('0' = none). Returns 1 if written. */
const compareAndSet = `
local current = redis.call('GET', KEYS[1])
if ARGV[1] == 'absent' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
if ARGV[4] ~= '0' then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[3])
end
return 1`;

/** hincrby. ARGV: ttlMs ('0' = none), then field, amount pairs. TTL only if the key has none. */
const hincrby = `
for i = 2, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
if ARGV[1] ~= '0' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1`;

/** incr. ARGV: ttlMs ('0' = none). TTL only if the key has none. Returns the new value. */
const incr = `
local n = redis.call('INCR', KEYS[1])
if ARGV[1] ~= '0' and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n`;

/** Lock release. ARGV: token. Deletes only the owner's lock; returns 1 if deleted. */
const releaseLock = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** Lock extend. ARGV: token, ttlMs. Re-arms only the owner's lock; returns 1 if extended. */
const extendLock = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;

/** readAndRenew. KEYS: the keys. ARGV: ttlMs. Returns each value (nil when absent), renewing the TTL of each present one. */
const readAndRenew = `
local values = {}
for i, key in ipairs(KEYS) do
  values[i] = redis.call('GETEX', key, 'PX', ARGV[1])
end
return values`;

/**
 * writeOnce. KEYS: the marker, then the keys of the always-writes, increments, members and pushes, in that order.
 * ARGV: 1 marker ttlMs, 2..5 how many always-writes, increments, members, pushes; then per always-write: 'set' or
 * 'ttl', value, ttlMs; per increment: n fields, ttlMs ('0' = none), n field/amount pairs; per member: member, ttlMs
 * ('0' = none); per push: value, keep. Returns 1 when the marker was absent (all written), 0 when it was there.
 */
const writeOnce = `
local a = 6
local k = 2
for _ = 1, tonumber(ARGV[2]) do
  if ARGV[a] == 'set' then
    redis.call('SET', KEYS[k], ARGV[a + 1], 'PX', ARGV[a + 2])
  else
    redis.call('PEXPIRE', KEYS[k], ARGV[a + 2])
  end
  a = a + 3
  k = k + 1
end
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
for _ = 1, tonumber(ARGV[3]) do
  local n = tonumber(ARGV[a])
  local ttl = ARGV[a + 1]
  a = a + 2
  for _ = 1, n do
    redis.call('HINCRBY', KEYS[k], ARGV[a], ARGV[a + 1])
    a = a + 2
  end
  if ttl ~= '0' then redis.call('PEXPIRE', KEYS[k], ttl) end
  k = k + 1
end
for _ = 1, tonumber(ARGV[4]) do
  redis.call('SADD', KEYS[k], ARGV[a])
  if ARGV[a + 1] ~= '0' then redis.call('PEXPIRE', KEYS[k], ARGV[a + 1]) end
  a = a + 2
  k = k + 1
end
for _ = 1, tonumber(ARGV[5]) do
  redis.call('LPUSH', KEYS[k], ARGV[a])
  redis.call('LTRIM', KEYS[k], 0, tonumber(ARGV[a + 1]) - 1)
  a = a + 2
  k = k + 1
end
return 1`;

/** The Lua sources by name. */
export const LUA_SCRIPTS = { compareAndSet, hincrby, incr, releaseLock, extendLock, readAndRenew, writeOnce } as const;

/** The name of one of the shared Lua scripts. */
export type ScriptName = keyof typeof LUA_SCRIPTS;
