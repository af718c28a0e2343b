%% @doc One collector per configured source, one_for_one: a collector that
%% crashes (an unreadable file, say) restarts alone and resumes from the
%% shards' positions; the others and aggregation carry on.
-module(tally_collectors_sup).
-behaviour(supervisor).

-export([start_link/1, init/1, collectors/0]).

-spec start_link(tally_config:config()) -> {ok, pid()} | {error, term()}.
start_link(Config) ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, Config).

%% The running collectors, by source name.
-spec collectors() -> [{binary(), pid()}].
collectors() ->
    [{Name, Pid} || {{collector, Name}, Pid, _, _} <- supervisor:which_children(?MODULE), is_pid(Pid)].

-spec init(tally_config:config()) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(#{sources := Sources, backend := Backend, shards := N, data_dir := Dir, poll_ms := Poll}) ->
    Flags = #{strategy => one_for_one, intensity => 10, period => 10},
    Children = [#{id => {collector, Name},
                  start => {tally_collector, start_link,
                            [Source#{backend => maps:get(backend, Source, Backend), shards => N,
                                     data_dir => Dir, poll_ms => maps:get(poll_ms, Source, Poll)}]}}
                || #{name := Name} = Source <- Sources],
    {ok, {Flags, Children}}.
