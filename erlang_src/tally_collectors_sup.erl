%% @doc One collector per configured source, one_for_one: a collector that
%% crashes (an unreadable file, say) restarts alone and resumes from the
%% shards' positions; the others and aggregation carry on. The collectors
%% are Gleam actors (tally/app/collector), started here until the Gleam
%% supervision tree exists.
-module(tally_collectors_sup).
-behaviour(supervisor).

-export([start_link/1, init/1, collectors/0, sources/0]).

-spec start_link(tally_config:config()) -> {ok, pid()} | {error, term()}.
start_link(Config) ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, Config).

%% The running collectors, by source name.
-spec collectors() -> [{binary(), pid()}].
collectors() ->
    [{Name, Pid} || {{collector, Name}, Pid, _, _} <- supervisor:which_children(?MODULE), is_pid(Pid)].

%% Every configured source's name and index (its collector's, see
%% tally@app@collector:sync/1), in order.
-spec sources() -> [{binary(), non_neg_integer()}].
sources() ->
    #{sources := Sources} = tally_config:get(),
    lists:zip([Name || #{name := Name} <- Sources], lists:seq(0, length(Sources) - 1)).

-spec init(tally_config:config()) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(#{sources := Sources, backend := Backend, shards := N, data_dir := Dir, poll_ms := Poll}) ->
    Flags = #{strategy => one_for_one, intensity => 10, period => 10},
    Children = [#{id => {collector, Name},
                  start => {'tally@app@collector', start_link,
                            [collector_config(I, Source, maps:get(backend, Source, Backend), N, Dir,
                                              maps:get(poll_ms, Source, Poll))]}}
                || {I, #{name := Name} = Source} <- lists:zip(lists:seq(0, length(Sources) - 1), Sources)],
    {ok, {Flags, Children}}.

-define(CHUNK, 1048576).

%% tally@app@collector:config/10, a Gleam record, from a source's map.
collector_config(Index, #{name := Name, format := Format, path := Path} = Source, Backend, Shards, Dir, Poll) ->
    MaxLine = maps:get(max_line, Source, ?CHUNK),
    SourceName = case Format of json_lines -> none; _ -> {some, Name} end,
    %% The source's dedup travels with its batches (tally_config:dedup/2).
    Options = {parser_options, MaxLine, SourceName, maps:get(s3_customer, Source, bucket_owner),
               maps:get(dedup, Source, true)},
    {config, Index, Name, Format, unicode:characters_to_binary(Path), 'tally@app@engine_name':backend(Backend),
     Options, Shards, unicode:characters_to_binary(Dir), Poll, maps:get(chunk_bytes, Source, ?CHUNK)}.
