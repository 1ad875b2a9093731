import Config
config :app, AppWeb.Endpoint, https: [port: 4001, cipher_suite: :strong]
