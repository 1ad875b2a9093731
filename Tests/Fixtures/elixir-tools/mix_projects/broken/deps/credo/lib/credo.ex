defmodule Mix.Tasks.Credo do
  @moduledoc "Fails as a broken Credo would: no JSON, exit status 1."
  use Mix.Task

  def run(_argv) do
    IO.puts("** (UndefinedFunctionError) function Credo.Execution.build/1 is undefined")
    exit({:shutdown, 1})
  end
end
