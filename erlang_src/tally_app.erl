%% @doc The tally OTP application. When TALLY_CLOSE_PERIOD names a period
%% (`make run`), it runs the main job once the application has started
%% (tally_job), prints what it did and stops the node with its status.
-module(tally_app).
-behaviour(application).

-export([start/2, prep_stop/1, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case tally_sup:start_link() of
        {ok, Sup} ->
            maybe_run_job(os:getenv("TALLY_CLOSE_PERIOD")),
            {ok, Sup};
        Error ->
            Error
    end.

%% Before the tree stops, the shards save what they hold.
-spec prep_stop(term()) -> term().
prep_stop(State) ->
    catch tally_ingest_sup:snapshot_all(),
    State.

-spec stop(term()) -> ok.
stop(_State) ->
    ok.

maybe_run_job(false) ->
    ok;
maybe_run_job(Period) ->
    %% The job runs beside the application, watched by a second process:
    %% whatever ends the job (done, failed, killed), the node stops with a
    %% status, never hangs. init:stop/1 lets every application shut down in order.
    _ = spawn(fun() ->
                  Status = tally_job:watched(fun() -> tally_job:run_and_report(list_to_binary(Period)) end),
                  init:stop(Status)
              end),
    ok.
