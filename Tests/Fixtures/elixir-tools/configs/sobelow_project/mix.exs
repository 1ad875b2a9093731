defmodule SobelowProject.MixProject do
  use Mix.Project

  def project, do: [app: :sobelow_project, version: "0.1.0"]
end
