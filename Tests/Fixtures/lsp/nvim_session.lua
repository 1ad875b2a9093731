-- Drives the ElixirCoder Neovim plugin headless against the real server, as a person would,
-- and writes what it saw to $EC_OUT as JSON. $EC_MODE: "main" (diagnostics, hover, edit,
-- implement, cancel) or "disconnect" (Neovim dies while a generate runs).
local ec = require("elixir_coder")
local work = os.getenv("EC_WORK")
local out = {}

local function save()
  local f = assert(io.open(os.getenv("EC_OUT"), "w"))
  f:write(vim.fn.json_encode(out))
  f:close()
end

local function diags(buf)
  local r = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    local code = d.code or (d.user_data and d.user_data.lsp and d.user_data.lsp.code)
    table.insert(r, { line = d.lnum + 1, col = d.col, code = code, severity = d.severity, source = d.source })
  end
  return r
end

local function has(buf, code)
  for _, d in ipairs(diags(buf)) do
    if d.code == code then return true end
  end
  return false
end

local function progress_running()
  for _, p in pairs(ec.progress) do
    if p.kind == "begin" or p.kind == "report" then return true end
  end
  return false
end

local long_task = "Write a module DateTools with a function weekday(iso) that parses an ISO 8601 date string and returns the English weekday name, returning {:error, reason} for invalid input."

local function main()
  vim.cmd("edit " .. work .. "/greeter.ex")
  local buf = vim.api.nvim_get_current_buf()
  out.filetype = vim.bo.filetype
  out.opened = vim.wait(60000, function() return has(buf, "DOS.StringToAtom") end, 20)
  out.after_open = diags(buf)

  local params = { textDocument = { uri = vim.uri_from_bufnr(buf) }, position = { line = 4, character = 12 } }
  for _, r in pairs(vim.lsp.buf_request_sync(buf, "textDocument/hover", params, 60000) or {}) do
    if r.result then out.hover = r.result.contents.value end
  end

  -- Replace `String.to_atom(name)` with `name`, as typing would.
  vim.api.nvim_buf_set_text(buf, 4, 4, 4, 24, { "name" })
  out.edited = vim.wait(30000, function() return not has(buf, "DOS.StringToAtom") end, 20)
  vim.wait(600)
  out.after_edit = diags(buf)

  vim.cmd("edit " .. work .. "/age_sort.ex")
  local stub = vim.api.nvim_get_current_buf()
  vim.wait(30000, function() return ec.client(stub) ~= nil end, 20)
  vim.api.nvim_win_set_cursor(0, { 13, 2 })
  local done = false
  ec.implement(function() done = true end)
  out.implemented = vim.wait(180000, function() return done end, 20)
  out.implement_error = ec.last_error and ec.last_error.message or vim.NIL
  out.implement_status = ec.last_result and ec.last_result.status or vim.NIL
  vim.wait(200)
  vim.cmd("write")

  local before = vim.api.nvim_buf_get_lines(stub, 0, -1, false)
  local finished = false
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  ec.generate(long_task, function(err) finished = true; out.cancel_code = err and err.code or vim.NIL end)
  out.progress_began = vim.wait(60000, progress_running, 10)
  out.cancelled = ec.cancel()
  out.cancel_answered = vim.wait(30000, function() return finished end, 20)
  -- The server's side: the generate's progress ends, as cancelled.
  out.progress_end = vim.wait(30000, function()
    for _, p in pairs(ec.progress) do
      if p.kind == "end" and p.message == "cancelled" then return true end
    end
    return false
  end, 20)
  vim.wait(1000)
  out.unchanged = vim.deep_equal(before, vim.api.nvim_buf_get_lines(stub, 0, -1, false))
end

local function disconnect()
  vim.cmd("edit " .. work .. "/greeter.ex")
  local buf = vim.api.nvim_get_current_buf()
  vim.wait(30000, function() return ec.client(buf) ~= nil end, 20)
  ec.generate(long_task)
  out.progress_began = vim.wait(60000, progress_running, 10)
  out.server_pid = ec.client(buf).rpc.pid
  save()
  -- Gone mid-request, without shutdown or exit: as a crashed or killed editor leaves.
  vim.loop.kill(vim.loop.os_getpid(), 9)
end

local ok, err = pcall(function()
  vim.cmd("filetype on")
  ec.setup({ cmd = { os.getenv("EC_BIN"), "serve", "--stdio" } })
  if os.getenv("EC_MODE") == "disconnect" then disconnect() else main() end
end)
out.ok = ok
out.error = err and tostring(err) or vim.NIL
save()
vim.cmd("qa!")
