-- ElixirCoder for Neovim: starts `elixir-coder serve --stdio` (a language server) for Elixir
-- buffers and adds commands that generate, implement, explain and clarify through it.
-- Works with Neovim 0.7 (vim.lsp.start_client) and 0.8+ (vim.lsp.start).
local M = {}

M.config = {
  -- The server command; `elixir-coder` must be on PATH, or give its full path.
  cmd = { "elixir-coder", "serve", "--stdio" },
  filetypes = { "elixir" },
  -- A project's root is the nearest folder with one of these; else the file's folder.
  root_markers = { "mix.exs", ".git" },
  -- Sent as initializationOptions: `compile = false` leaves the compiler out of diagnostics.
  init_options = {},
  on_attach = nil,
}

-- Requests in flight, by request id: { client = ..., bufnr = ... }.
M.pending = {}
-- The last progress value per token, and the last command result (for statuslines and tests).
M.progress = {}
M.last_result = nil
M.last_error = nil

local NAME = "elixir-coder"
local roots = {}

local function root_dir(bufnr)
  local file = vim.api.nvim_buf_get_name(bufnr)
  local dir = vim.fn.fnamemodify(file, ":p:h")
  for _, marker in ipairs(M.config.root_markers) do
    local file_hit = vim.fn.findfile(marker, dir .. ";")
    if file_hit ~= "" then return vim.fn.fnamemodify(file_hit, ":p:h") end
    local dir_hit = vim.fn.finddir(marker, dir .. ";")
    -- ":p" gives a folder a trailing slash, so its parent is two heads up.
    if dir_hit ~= "" then return vim.fn.fnamemodify(dir_hit, ":p:h:h") end
  end
  return dir
end

local function notify(msg, level)
  vim.notify("ElixirCoder: " .. msg, level or vim.log.levels.INFO)
end

-- Shows progress in the message area and remembers it.
local function on_progress(err, result, ctx, config)
  local default = vim.lsp.handlers["$/progress"]
  if default then default(err, result, ctx, config) end
  if not result or not result.value then return end
  local token = tostring(result.token)
  local v = result.value
  local state = M.progress[token] or {}
  if v.kind == "begin" then state = { title = v.title, message = v.message } end
  if v.message then state.message = v.message end
  state.kind = v.kind
  M.progress[token] = state
  vim.api.nvim_echo({ { "ElixirCoder: " .. (state.title or "") .. " " .. (state.message or "") } }, false, {})
end

local function client_config(bufnr)
  return {
    name = NAME,
    cmd = M.config.cmd,
    root_dir = root_dir(bufnr),
    init_options = M.config.init_options,
    handlers = { ["$/progress"] = on_progress },
    on_attach = M.config.on_attach,
  }
end

--- Starts (or reuses) the server for `bufnr` and attaches it; returns the client id.
function M.start(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local config = client_config(bufnr)
  if vim.lsp.start then
    return vim.lsp.start(config, { bufnr = bufnr })
  end
  -- Neovim 0.7: one client per root, attached by hand.
  local id = roots[config.root_dir]
  if not id or vim.lsp.client_is_stopped(id) then
    id = vim.lsp.start_client(config)
    roots[config.root_dir] = id
  end
  if id then vim.lsp.buf_attach_client(bufnr, id) end
  return id
end

--- The ElixirCoder client attached to `bufnr`, if any.
function M.client(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local clients = vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = bufnr, name = NAME }) or vim.lsp.buf_get_clients(bufnr)
  for _, c in pairs(clients) do
    if c.name == NAME then return c end
  end
  return nil
end

--- Runs one of the server's commands with `argument`; `done(err, result)` gets the answer.
function M.execute(command, argument, done)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = M.client(bufnr)
  if not client then
    notify("no server attached to this buffer (is it an Elixir file, and did setup{} run?)", vim.log.levels.WARN)
    return nil
  end
  local ok, id
  local finished = false
  local function finish(err, result)
    -- Once: after a cancel, a late answer from the server is not news.
    if finished then return end
    finished = true
    M.pending[id] = nil
    M.last_error, M.last_result = err, result
    if err then
      notify(err.message or tostring(err), err.code == -32800 and vim.log.levels.INFO or vim.log.levels.WARN)
    elseif result and result.status then
      notify(command:gsub("^elixirCoder%.", "") .. ": " .. result.status .. (result.applied == false and " (edit not applied)" or ""))
    end
    if done then done(err, result) end
  end
  ok, id = client.request("workspace/executeCommand", { command = command, arguments = { argument } }, finish, bufnr)
  if ok then M.pending[id] = { client = client, bufnr = bufnr, finish = finish } end
  return ok and id or nil
end

local function here()
  local bufnr = vim.api.nvim_get_current_buf()
  local line = vim.api.nvim_win_get_cursor(0)[1]
  return vim.uri_from_bufnr(bufnr), line
end

--- Generates code for `task` (with the buffer as context) and inserts it below the cursor.
function M.generate(task, done)
  local uri, line = here()
  return M.execute("elixirCoder.generate", { uri = uri, line = line - 1, task = task }, done)
end

--- Fills the function stub under the cursor (stub mode).
function M.implement(done)
  local uri, line = here()
  return M.execute("elixirCoder.implement", { uri = uri, line = line - 1 }, done)
end

--- Explains the findings on the cursor's line in a floating window.
function M.explain(done)
  local uri, line = here()
  return M.execute("elixirCoder.explain", { uri = uri, line = line }, function(err, result)
    if not err and result and result.markdown then
      vim.lsp.util.open_floating_preview(vim.split(result.markdown, "\n"), "markdown", { border = "rounded" })
    end
    if done then done(err, result) end
  end)
end

--- Asks the server whether `task` is ambiguous; a question comes as a choice, then the code is inserted.
function M.clarify(task, done)
  local uri, line = here()
  return M.execute("elixirCoder.clarify", { uri = uri, line = line - 1, task = task }, done)
end

--- Cancels every ElixirCoder request still running. Neovim drops the server's "cancelled"
--- answer, so the request's callback is told here.
function M.cancel()
  local n = 0
  for id, p in pairs(M.pending) do
    p.client.cancel_request(id)
    p.finish({ code = -32800, message = "cancelled" }, nil)
    n = n + 1
  end
  notify(n > 0 and ("cancelled " .. n .. " request(s)") or "nothing to cancel")
  return n
end

--- `opts` overrides M.config; starts the server for every buffer of the configured filetypes.
function M.setup(opts)
  M.config = vim.tbl_deep_extend("force", M.config, opts or {})
  local group = vim.api.nvim_create_augroup("ElixirCoder", { clear = true })
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args) M.start(args.buf) end,
  })
  local cmd = vim.api.nvim_create_user_command
  cmd("ElixirCoderGenerate", function(a) M.generate(a.args) end, { nargs = "+", desc = "Generate Elixir code for a task below the cursor" })
  cmd("ElixirCoderImplement", function() M.implement() end, { desc = "Implement the function stub under the cursor" })
  cmd("ElixirCoderExplain", function() M.explain() end, { desc = "Explain the findings on this line" })
  cmd("ElixirCoderClarify", function(a) M.clarify(a.args) end, { nargs = "+", desc = "Ask a clarifying question, then generate" })
  cmd("ElixirCoderCancel", function() M.cancel() end, { desc = "Cancel running ElixirCoder requests" })
  -- Buffers already open when setup ran.
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.tbl_contains(M.config.filetypes, vim.bo[b].filetype) then M.start(b) end
  end
end

return M
