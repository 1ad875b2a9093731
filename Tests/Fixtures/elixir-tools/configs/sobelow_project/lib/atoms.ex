defmodule SobelowProject.Atoms do
  @moduledoc "Atom creation, one function skipped, one type ignored."

  @sobelow_skip ["DOS.StringToAtom"]
  def to_key(value) do
    String.to_atom(value)
  end

  def to_key_unskipped(value) do
    String.to_atom(value)
  end

  def from_list(value) do
    List.to_atom(value)
  end
end
