-- wrk script: sends N pipelined copies of the request per write (N = script arg, $PIPELINE or 16).
-- Usage: wrk -s pipeline.lua http://127.0.0.1:18181/plaintext -- 16

local batch

init = function(args)
  local depth = tonumber(args[1]) or tonumber(os.getenv("PIPELINE")) or 16
  local r = {}
  for i = 1, depth do
    r[i] = wrk.format()  -- wrk.method, wrk.path, wrk.headers, wrk.body of the URL given
  end
  batch = table.concat(r)
end

request = function()
  return batch
end
