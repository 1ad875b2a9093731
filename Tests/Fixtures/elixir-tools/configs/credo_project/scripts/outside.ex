defmodule CredoProject.Outside do
  def value, do: IO.inspect(1)
end
