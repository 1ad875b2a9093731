defmodule CredoProject.Sample do
  @moduledoc "Findings that the project's .credo.exs changes."

  # TODO: disabled in .credo.exs, so not reported
  def describe(user, account, organisation, permissions, settings) do
    if user do
      if account do
        {organisation, permissions, settings}
      end
    end
  end
end
