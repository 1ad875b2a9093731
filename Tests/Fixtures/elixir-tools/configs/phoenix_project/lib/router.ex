defmodule AppWeb.Router do
  use AppWeb, :router

  pipeline :browser do
    plug :accepts, ["html"]
    plug :fetch_session
    plug :put_secure_browser_headers
  end

  pipeline :api do
    plug :accepts, ~w(json)
  end

  scope "/", AppWeb do
    pipe_through :browser
    get "/users/:id/delete", UserController, :delete
    delete "/users/:id", UserController, :delete
    get "/", PageController, :index
  end
end
