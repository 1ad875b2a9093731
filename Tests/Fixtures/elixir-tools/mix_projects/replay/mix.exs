defmodule Replay.MixProject do
  use Mix.Project

  def project, do: [app: :replay, version: "0.1.0", deps: deps()]

  # Path dependencies: mix resolves them without a lock file or hex.pm.
  defp deps, do: [{:credo, path: "deps/credo"}, {:sobelow, path: "deps/sobelow"}]
end
