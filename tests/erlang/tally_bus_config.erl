%% @doc Test support: a bus map as the Erlang tests and the soak script
%% write it (host, port, auth, tls, ping_interval...) as the Gleam types of
%% tally/app/nats and tally/app/sink_nats, in the shapes Gleam gives its
%% records. (The running system decodes its configuration in Gleam.)
-module(tally_bus_config).

-export([nats/1, sink_nats/1]).

-type option(T) :: {some, T} | none.
%% tally@app@nats:Config(host, port, auth, tls, name, ping_interval)
-type nats() :: {config, binary(), inet:port_number(), tuple() | no_auth, option(tuple()), binary(), pos_integer()}.
-export_type([nats/0]).

%% The NATS client's Config from a bus map (host, port, auth, tls, name,
%% ping_interval; every key optional). A password or token stays wrapped.
-spec nats(map()) -> nats().
nats(Bus) ->
    Auth = case maps:get(auth, Bus, none) of
               none -> no_auth;
               {user, U, P} -> {user_password, text(U), secret(P)};
               {token, T} -> {token, secret(T)}
           end,
    Tls = case maps:get(tls, Bus, false) of
              false -> none;
              true -> {some, tls_options(#{})};
              Map when is_map(Map) -> {some, tls_options(Map)}
          end,
    {config, text(maps:get(host, Bus, "127.0.0.1")), maps:get(port, Bus, 4222), Auth, Tls,
     text(maps:get(name, Bus, <<"tally">>)), maps:get(ping_interval, Bus, 5000)}.

%% The bus sink's Config(nats, stream, subjects, create_stream).
-spec sink_nats(map()) -> tuple().
sink_nats(#{stream := Stream, subjects := Subjects} = Bus) ->
    {config, nats(Bus), text(Stream), [text(S) || S <- Subjects], maps:get(create_stream, Bus, false)}.

tls_options(Map) ->
    {tls_options, opt(cacertfile, Map), opt(certfile, Map), opt(keyfile, Map), opt(server_name, Map)}.

opt(Key, Map) ->
    case maps:find(Key, Map) of
        {ok, V} -> {some, text(V)};
        error -> none
    end.

%% A closure that reveals the secret only when called (at CONNECT).
secret(S) -> 'tally@app@secret':new(text(S)).

text(B) when is_binary(B) -> B;
text(L) when is_list(L) -> unicode:characters_to_binary(L);
text(A) when is_atom(A) -> atom_to_binary(A).
