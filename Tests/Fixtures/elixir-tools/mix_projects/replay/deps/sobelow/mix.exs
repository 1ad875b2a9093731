defmodule Sobelow.MixProject do
  use Mix.Project

  # A stand-in for Sobelow 0.13.0 that replays its recorded JSON output (see ../../../README.md).
  def project, do: [app: :sobelow, version: "0.13.0"]
end
