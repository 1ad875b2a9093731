// The Elixir grammar compiler and token masks live here.
