import Config
config :app, AppWeb.Endpoint, url: [host: "example.com", port: 80]
