defmodule Coherence.Mixfile do
  use Mix.Project

  # What Sobelow reads: the dependency's own @version (0.5.0 here; mix.lock says 0.5.2).
  @version "0.5.0"

  def project, do: [app: :coherence, version: @version]
end
