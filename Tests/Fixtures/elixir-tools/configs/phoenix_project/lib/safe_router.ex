defmodule AppWeb.SafeRouter do
  use AppWeb, :router

  pipeline :browser do
    plug :accepts, ["html"]
    plug :fetch_session
    plug :protect_from_forgery
    plug :put_secure_browser_headers, %{"content-security-policy" => "default-src 'self'"}
  end

  scope "/", AppWeb do
    pipe_through :browser
    get "/users/:id", UserController, :show
    delete "/users/:id", UserController, :delete
  end
end
