%% @doc The tally OTP application. When the environment variable
%% TALLY_RUN names an input file, the application runs that one job once
%% it has started, prints what it did and stops the node (`make run`).
-module(tally_app).
-behaviour(application).

-export([start/2, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case tally_sup:start_link() of
        {ok, Sup} ->
            maybe_run_job(os:getenv("TALLY_RUN")),
            {ok, Sup};
        Error ->
            Error
    end.

-spec stop(term()) -> ok.
stop(_State) ->
    ok.

maybe_run_job(false) ->
    ok;
maybe_run_job(Input) ->
    _ = spawn(fun() ->
                  Status = tally_job:run_and_report(Input),
                  %% init:stop/1 lets every application shut down in order.
                  init:stop(Status)
              end),
    ok.
