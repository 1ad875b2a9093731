defmodule Greeter do
  @moduledoc "Greets people."

  def hello(name) do
    String.to_atom(name)
  end

  def twice(x) do
    y = 1
    x * 2
  end
end
