%% @doc The pipeline's configuration: the `tally` application environment
%% (sys.config) with defaults, and environment variables for secrets
%% (TALLY_NATS_PASSWORD, TALLY_NATS_TOKEN) and for the data directory
%% (TALLY_DATA_DIR), the bus (TALLY_NATS_URL, TALLY_NATS_STREAM) and the
%% engine (TALLY_BACKEND), so no secret has to live in a file. Relative paths are
%% relative to TALLY_BASE_DIR when it is set (a release runs in its own
%% root directory, not where it was started from).
%%
%% ```
%% {tally, [{data_dir, "var/tally"},
%%          {backend, nif},                      % nif | port | gleam
%%          {shards, 2},
%%          {window, hour},                      % hour | day | month
%%          {dedup, true},                       % every source's dedup, when it names none (below)
%%          {snapshot_ms, 60000},                % and when the input doubled, at least
%%          {snapshot_bytes, 67108864},          %   snapshot_bytes since the last one
%%          {poll_ms, 1000},
%%          {sources, [#{name => <<"edge">>, format => json_lines, path => "in/edge"}]},
%%                                               % a source's dedup => true | false: drop events whose
%%                                               % (source, id) was seen (memory per event); default
%%                                               % true for json_lines and rgw_usage, false for
%%                                               % s3_access_log and storage_csv (exactly once by position)
%%          {plans, "plans.json"},
%%          {invoice_version, 1},
%%          {close, #{grace_ms => 86400000, check_ms => 60000}},   % or none
%%          {bus, none},                         % or #{host, port, user, stream, subjects, subject, create_stream,
%%                                               %       tls => #{cacertfile, certfile, keyfile, server_name}}
%%          {file_mode, 8#600}                   % mode of the files tally creates (tally/app/files)
%%         ]}
%% '''
-module(tally_config).

-export([get/0]).

-type config() :: #{data_dir := file:filename(), backend := tally_engine:backend(), shards := pos_integer(),
                    aggregator := tuple(), snapshot_ms := pos_integer(), snapshot_bytes := pos_integer(),
                    poll_ms := pos_integer(),
                    sources := [map()], plans := file:filename() | none, invoice_version := pos_integer(),
                    close := none | map(), bus := none | map(), subject := binary()}.
-export_type([config/0]).

-spec get() -> config().
get() ->
    Env = maps:from_list(application:get_all_env(tally)),
    Window = maps:get(window, Env, hour),
    #{data_dir => path(os_env("TALLY_DATA_DIR", maps:get(data_dir, Env, "var/tally"))),
      backend => backend(os_env("TALLY_BACKEND", none), maps:get(backend, Env, nif)),
      shards => maps:get(shards, Env, 2),
      aggregator => {aggregator_config, Window, maps:get(dedup, Env, true),
                     [<<"bandwidth_out_bytes">>, <<"bandwidth_in_bytes">>], [<<"storage_bytes">>], [],
                     maps:get(gauge_gap_cap_ms, Env, 172800000)},
      snapshot_ms => maps:get(snapshot_ms, Env, 60000),
      snapshot_bytes => maps:get(snapshot_bytes, Env, 67108864),
      poll_ms => maps:get(poll_ms, Env, 1000),
      sources => [S#{path := path(P), dedup => dedup(S, Env)} || #{path := P} = S <- maps:get(sources, Env, [])],
      plans => case maps:get(plans, Env, none) of none -> none; Plans -> path(Plans) end,
      invoice_version => invoice_version(os_env("TALLY_INVOICE_VERSION", none), maps:get(invoice_version, Env, 1)),
      close => maps:get(close, Env, none),
      bus => bus(bus_from_url(os_env("TALLY_NATS_URL", none), maps:get(bus, Env, none), Env)),
      subject => maps:get(subject, Env, <<"tally.invoices">>)}.

%% Deduplication by event id, per source: its own `dedup`, else the
%% application's `dedup`, else on where the same event may come twice
%% (producers that retry; RGW usage dumps whose hours overlap) and off for
%% append-only files read exactly once by position (S3 access logs,
%% storage CSV), where it would only cost memory per event.
dedup(#{dedup := Dedup}, _Env) when is_boolean(Dedup) -> Dedup;
dedup(#{dedup := Other, name := Name}, _Env) -> error({bad_config, {dedup, Name, Other}});
dedup(_Source, #{dedup := Dedup}) when is_boolean(Dedup) -> Dedup;
dedup(#{format := Format}, _Env) -> lists:member(Format, [json_lines, rgw_usage]).

%% TALLY_NATS_URL (nats://host:port, or tls://host:port to insist on TLS)
%% turns the bus on, or moves it, without editing sys.config; the stream is
%% TALLY_NATS_STREAM (default INVOICES).
bus_from_url(none, Bus, _Env) ->
    Bus;
bus_from_url("tls://" ++ HostPort, Bus, Env) ->
    Base = bus_from_url("nats://" ++ HostPort, Bus, Env),
    Base#{tls => case maps:get(tls, Base, false) of Tls when is_map(Tls) -> Tls; _ -> true end};
bus_from_url("nats://" ++ HostPort, Bus, Env) ->
    {Host, Port} = case string:split(HostPort, ":", trailing) of
                       [H, P] -> {H, list_to_integer(P)};
                       [H] -> {H, 4222}
                   end,
    Base = case Bus of none -> #{}; _ -> Bus end,
    Subject = maps:get(subject, Env, <<"tally.invoices">>),
    Base#{host => Host, port => Port,
          stream => list_to_binary(os_env("TALLY_NATS_STREAM", binary_to_list(maps:get(stream, Base, <<"INVOICES">>)))),
          subjects => maps:get(subjects, Base, [Subject]),
          create_stream => maps:get(create_stream, Base, true)}.

bus(none) ->
    none;
bus(Bus) when is_map(Bus) ->
    %% Secrets are wrapped at once (tally_secret): the configuration map is
    %% in child specs and process states that crash reports print.
    Auth = case {os:getenv("TALLY_NATS_TOKEN"), maps:get(user, Bus, none), os:getenv("TALLY_NATS_PASSWORD")} of
               {Token, _, _} when Token =/= false -> {token, tally_secret:wrap(list_to_binary(Token))};
               {false, none, _} -> maps:get(auth, Bus, none);
               {false, User, false} -> {user, User, tally_secret:wrap(maps:get(password, Bus, <<>>))};
               {false, User, Password} -> {user, User, tally_secret:wrap(list_to_binary(Password))}
           end,
    tls(maps:remove(password, Bus#{auth => Auth})).

%% TLS files from the environment (TALLY_NATS_CA_FILE, TALLY_NATS_CERT_FILE,
%% TALLY_NATS_KEY_FILE) turn TLS on too; paths are taken from TALLY_BASE_DIR.
tls(Bus) ->
    FromEnv = maps:from_list([{K, V} || {K, Var} <- [{cacertfile, "TALLY_NATS_CA_FILE"}, {certfile, "TALLY_NATS_CERT_FILE"},
                                                    {keyfile, "TALLY_NATS_KEY_FILE"}],
                                        V <- [os_env(Var, none)], V =/= none]),
    Tls = case {maps:get(tls, Bus, false), map_size(FromEnv)} of
              {false, 0} -> false;
              {true, 0} -> true;
              {Configured, _} when is_map(Configured) -> maps:merge(Configured, FromEnv);
              {_, _} -> FromEnv
          end,
    case Tls of
        #{} -> Bus#{tls => maps:map(fun(server_name, V) -> V; (_, Path) -> path(Path) end, Tls)};
        _ -> Bus#{tls => Tls}
    end.

%% TALLY_BACKEND=port runs the pipeline on the port (the Gleam engine cannot
%% close periods yet, so it is not offered here).
backend(none, Configured) -> Configured;
backend("nif", _) -> nif;
backend("port", _) -> port;
backend("gleam", _) -> gleam;
backend(Other, _) -> error({bad_config, {'TALLY_BACKEND', Other, "expected nif, port or gleam"}}).

%% TALLY_INVOICE_VERSION: a reissue of a period without editing sys.config.
invoice_version(none, Version) -> Version;
invoice_version(Text, _) ->
    case string:to_integer(Text) of
        {V, []} when V >= 0, V =< 16#FFFFFFFF -> V;
        _ -> error({bad_config, {'TALLY_INVOICE_VERSION', Text, "expected an integer from 0 to 4294967295"}})
    end.

path(Path) ->
    case os_env("TALLY_BASE_DIR", none) of
        none -> Path;
        Base -> filename:absname(Path, Base)
    end.

os_env(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        "" -> Default;
        Value -> Value
    end.
