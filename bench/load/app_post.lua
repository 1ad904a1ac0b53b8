-- wrk script for bench/load/app.sh: every request is a POST of the order fixture as JSON.
-- Usage: wrk -s bench/load/app_post.lua http://HOST:PORT/api/echo -- [FILE]
-- (FILE: bench/app/order.json, relative to the current directory, unless given)
function init(args)
  local file = args[1] or "bench/app/order.json"
  local f = assert(io.open(file, "rb"))
  local body = f:read("*a")
  f:close()
  wrk.method = "POST"
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
end
