%% @doc The shards, then the collectors, rest_for_one: a collector's read
%% position is only as good as the shards' state, so when a shard restarts
%% (from its last snapshot) every collector restarts after it and resumes
%% from the positions the shards now hold. A collector crashing alone is
%% handled below, by tally_collectors_sup. The shards are Gleam actors
%% (tally/app/shard), started here until the Gleam supervision tree exists.
-module(tally_ingest_sup).
-behaviour(supervisor).

-export([start_link/1, init/1, snapshot_all/0]).

-spec start_link(tally_config:config()) -> {ok, pid()} | {error, term()}.
start_link(Config) ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, Config).

%% Every shard writes its snapshot now (an orderly stop: tally_app:prep_stop/1).
-spec snapshot_all() -> ok.
snapshot_all() ->
    #{shards := N} = tally_config:get(),
    nil = 'tally@app@shard':snapshot_all(N),
    ok.

-spec init(tally_config:config()) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(#{shards := N, backend := Backend, data_dir := Dir, aggregator := Agg, snapshot_ms := Snap,
       snapshot_bytes := SnapBytes} = Config) ->
    Flags = #{strategy => rest_for_one, intensity => 5, period => 10},
    ShardDir = unicode:characters_to_binary(filename:join(Dir, "shards")),
    Shards = [#{id => {shard, I},
                %% tally@app@shard:config/6, a Gleam record.
                start => {'tally@app@shard', start_link,
                          [{config, I, 'tally@app@engine_name':backend(Backend), ShardDir, Agg, Snap, SnapBytes}]},
                shutdown => 30000}
              || I <- lists:seq(0, N - 1)],
    Collectors = #{id => tally_collectors_sup, type => supervisor,
                   start => {tally_collectors_sup, start_link, [Config]}},
    {ok, {Flags, Shards ++ [Collectors]}}.
