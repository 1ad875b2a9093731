defmodule Snippets.Debugging do
  @moduledoc false

  def normalize(list) do
    list
    |> Enum.map(&String.trim/1)
    |> IO.inspect()
  end

  def peek(value) do
    # shows the value on its way through
    IO.inspect(value)
  end
end
