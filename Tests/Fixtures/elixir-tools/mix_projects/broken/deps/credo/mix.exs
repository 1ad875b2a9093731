defmodule Credo.MixProject do
  use Mix.Project

  # A Credo that fails: garbage on standard output and exit status 1 (see ../../../README.md).
  def project, do: [app: :credo, version: "1.7.19"]
end
