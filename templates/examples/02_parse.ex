# Task: Parse a string into a positive integer, returning an error for bad input.
defmodule PositiveInt do
  @moduledoc "Parses positive integers."

  @doc "Parses `text`; returns `{:ok, n}` or `{:error, :invalid}`."
  @spec parse(String.t()) :: {:ok, pos_integer()} | {:error, :invalid}
  def parse(text) when is_binary(text) do
    case Integer.parse(text) do
      {n, ""} when n > 0 -> {:ok, n}
      _ -> {:error, :invalid}
    end
  end
end
