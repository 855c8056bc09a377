-- wrk.lua: requests over the storage bench guest's file set (mkfileset), in
-- SPECweb99's class mix: class 0 (under 1 KiB) 35%, class 1 (1-9 KiB) 50%,
-- class 2 (10-90 KiB) 14%, class 3 (100-900 KiB) 1%; folders and files
-- uniformly, so the whole set (larger than the guest's RAM) is the working set.
local ndirs = @NDIRS@
local thread_id = 0

function setup(thread)
   thread_id = thread_id + 1
   thread:set("seed", thread_id)
end

function init(args)
   math.randomseed(seed * 7919)
end

function request()
   local r = math.random(100)
   local c
   if r <= 35 then c = 0 elseif r <= 85 then c = 1 elseif r <= 99 then c = 2 else c = 3 end
   local path = string.format("/fs/dir%05d/class%d_%d", math.random(ndirs) - 1, c, math.random(9))
   return wrk.format("GET", path)
end
