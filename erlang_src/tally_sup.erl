%% @doc Top supervisor of the running system.
%%
%%   tally_sup (one_for_one, 5 restarts in 10 s)
%%   ├── tally_port_default   the engine as a port (tally_port_sup), for the `port` backend
%%   ├── tally_outbox         the durable queue of invoice lines (Gleam: tally/app/outbox)
%%   ├── tally_ingest_sup     (rest_for_one) shards, then tally_collectors_sup
%%   ├── tally_closer         period close, on demand and on schedule (Gleam: tally/app/closer)
%%   └── tally_publisher      outbox -> sink (NATS JetStream, or the file sink): tally/app/publisher
%%
%% one_for_one here because the children share nothing but files: a
%% crashing publisher restarts alone and finds every unacknowledged item
%% still in the outbox on disk; a crashing collector restarts alone under
%% tally_collectors_sup. Shards and collectors are tied (see
%% tally_ingest_sup). Five crashes in ten seconds mean something is wrong
%% beyond one process: the application stops rather than loop.
-module(tally_sup).
-behaviour(supervisor).

-export([start_link/0, init/1]).

-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    Config = #{data_dir := Dir} = tally_config:get(),
    Flags = #{strategy => one_for_one, intensity => 5, period => 10},
    Children =
        [#{id => tally_port_default, type => supervisor,
           start => {tally_port_sup, start_link, [#{name => tally_port_default}]}},
         #{id => tally_outbox,
           start => {'tally@app@outbox', start_link, [unicode:characters_to_binary(filename:join(Dir, "outbox"))]}},
         #{id => tally_ingest_sup, type => supervisor,
           start => {tally_ingest_sup, start_link, [Config]}},
         #{id => tally_closer,
           start => {'tally@app@closer', start_link, [closer_settings(Config)]}},
         #{id => tally_publisher,
           start => {'tally@app@publisher', start_link,
                     [tally_bus_config:publisher(#{registered => true, outbox => 'tally@app@outbox':registered(),
                                                   sink => sink(Config)})]}}],
    {ok, {Flags, Children}}.

%% With no bus configured, the embedded default: a JSON Lines file.
sink(#{bus := none, data_dir := Dir}) ->
    {file, filename:join(Dir, "invoices.jsonl")};
sink(#{bus := Bus}) ->
    {nats, Bus}.

%% The closer's settings (tally/app/closer's Settings) from the config map.
closer_settings(#{data_dir := Dir, plans := Plans, shards := Shards, invoice_version := Version,
                  subject := Subject} = Config) ->
    Schedule = case maps:get(close, Config, none) of
                   #{grace_ms := Grace, check_ms := Check} -> {some, {close, Grace, Check}};
                   none -> none
               end,
    {settings, unicode:characters_to_binary(Dir),
     case Plans of none -> none; _ -> {some, unicode:characters_to_binary(Plans)} end,
     Shards, Version, Subject, Schedule, 'tally@app@outbox':registered()}.
