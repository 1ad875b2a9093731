# A project's Credo configuration, as `mix credo gen.config` writes them (trimmed).
%{
  configs: [
    %{
      name: "default",
      files: %{
        included: ["lib/", "test/"],
        excluded: [~r"/_build/", ~r"/deps/", "lib/generated/"]
      },
      strict: false,
      checks: %{
        enabled: [
          {Credo.Check.Readability.MaxLineLength, [priority: :low, max_length: 60, ignore_definitions: false]},
          {Credo.Check.Refactor.Nesting, [max_nesting: 1]},
          {Credo.Check.Design.AliasUsage, [if_nested_deeper_than: String.length("ab")]}
        ],
        disabled: [
          {Credo.Check.Design.TagTODO, []}
        ]
      }
    }
  ]
}
