defmodule Sample do
  @moduledoc false

  def peek(value) do
    IO.inspect(value)
  end
end
