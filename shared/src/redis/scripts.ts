// The Lua behind every atomic operation, shared by both adapters. Lua rather than MULTI/EXEC because the
// Upstash REST API (and its local emulator) serve EVAL but not transactions. Each script takes exactly one key.

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

/** The Lua sources by name. */
export const LUA_SCRIPTS = { compareAndSet, hincrby, incr, releaseLock, extendLock } as const;

/** The name of one of the shared Lua scripts. */
export type ScriptName = keyof typeof LUA_SCRIPTS;
