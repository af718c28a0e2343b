%% @doc Top supervisor. For now it supervises the default port (owner and
%% journal); the collectors, aggregators and the publisher join it as they
%% are built.
%%
%% one_for_one: the children are independent, and a port that keeps dying
%% (5 restarts in 10 s) takes the application down rather than loop.
-module(tally_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Flags = #{strategy => one_for_one, intensity => 5, period => 10},
    Port = #{id => tally_port_default,
             start => {tally_port_sup, start_link, [#{name => tally_port_default}]},
             restart => permanent,
             type => supervisor,
             modules => [tally_port_sup]},
    {ok, {Flags, [Port]}}.
