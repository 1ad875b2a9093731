-- Loaded by Neovim (and by lazy.nvim or packer) at start-up. Nothing starts until
-- require("elixir_coder").setup{} is called, so a user's options always apply.
if vim.g.loaded_elixir_coder then return end
vim.g.loaded_elixir_coder = true
