-- wrk script for test/bench/range.bench.ts: every request asks for RANGE_BYTES bytes at a random offset of a
-- FILE_SIZE-byte file, with the bearer token in BENCH_TOKEN (sent to the reference server too, so requests match).
local size = tonumber(os.getenv("FILE_SIZE"))
local length = tonumber(os.getenv("RANGE_BYTES"))
local auth = "Bearer " .. os.getenv("BENCH_TOKEN")

function setup(thread)
  thread:set("seed", math.random(1, 2147483647))
end

function init()
  math.randomseed(seed or os.time())
end

function request()
  local first = math.random(0, size - length)
  return wrk.format("GET", nil, {
    ["Authorization"] = auth,
    ["Range"] = "bytes=" .. first .. "-" .. (first + length - 1),
  })
end
