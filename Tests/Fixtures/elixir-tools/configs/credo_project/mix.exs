defmodule CredoProject.MixProject do
  use Mix.Project

  def project, do: [app: :credo_project, version: "0.1.0"]
end
