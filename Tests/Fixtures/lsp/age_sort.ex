defmodule AgeSort do
  @moduledoc """
  Sorting of `{name, age}` tuples.
  """

  @doc """
  Sorts people by age, then by name.

      iex> AgeSort.sort_by_age([{"Zoe", 30}, {"Adam", 25}, {"Bea", 30}])
      [{"Adam", 25}, {"Bea", 30}, {"Zoe", 30}]
  """
  def sort_by_age(people) do
    # TODO
  end
end
