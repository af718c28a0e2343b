%% @doc The shards, then the collectors, rest_for_one: a collector's read
%% position is only as good as the shards' state, so when a shard restarts
%% (from its last snapshot) every collector restarts after it and resumes
%% from the positions the shards now hold. A collector crashing alone is
%% handled below, by tally_collectors_sup.
-module(tally_ingest_sup).
-behaviour(supervisor).

-export([start_link/1, init/1, snapshot_all/0]).

-spec start_link(tally_config:config()) -> {ok, pid()} | {error, term()}.
start_link(Config) ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, Config).

%% Every shard writes its snapshot now (an orderly stop: tally_app:prep_stop/1).
-spec snapshot_all() -> ok.
snapshot_all() ->
    lists:foreach(fun({_, Pid, worker, [tally_shard]}) when is_pid(Pid) ->
                          try tally_shard:snapshot(Pid) of
                              ok -> ok;
                              {error, Reason} -> logger:error(#{msg => "snapshot at stop failed", reason => Reason})
                          catch exit:_ -> ok  % stopping or restarting: its last snapshot stands
                          end;
                     (_) -> ok
                  end, supervisor:which_children(?MODULE)).

-spec init(tally_config:config()) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(#{shards := N, backend := Backend, data_dir := Dir, aggregator := Agg, snapshot_ms := Snap,
       snapshot_bytes := SnapBytes} = Config) ->
    Flags = #{strategy => rest_for_one, intensity => 5, period => 10},
    Shards = [#{id => tally_shard:name(I),
                start => {tally_shard, start_link, [#{index => I, backend => Backend, config => Agg,
                                                      dir => filename:join(Dir, "shards"), snapshot_ms => Snap,
                                                      snapshot_bytes => SnapBytes}]},
                shutdown => 30000}
              || I <- lists:seq(0, N - 1)],
    Collectors = #{id => tally_collectors_sup, type => supervisor,
                   start => {tally_collectors_sup, start_link, [Config]}},
    {ok, {Flags, Shards ++ [Collectors]}}.
