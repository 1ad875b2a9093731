# Task: Sum a list of integers.
defmodule ListMath do
  @moduledoc "Arithmetic over lists."

  @doc "Returns the sum of the integers in `list`."
  @spec sum([integer()]) :: integer()
  def sum(list) when is_list(list), do: Enum.reduce(list, 0, &(&1 + &2))
end
