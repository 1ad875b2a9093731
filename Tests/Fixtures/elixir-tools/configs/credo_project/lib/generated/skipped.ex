defmodule CredoProject.Generated do
  def value, do: IO.inspect(1)
end
