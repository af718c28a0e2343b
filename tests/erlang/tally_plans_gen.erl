%% Plans files generated at random (with the rand state the caller seeded),
%% for the differential tests: every measure, unit, scope and pricing model,
%% included quantities, decimal prices down to 30 places, tiers with flat
%% fees; one case in eight carries a mistake the engines must refuse with
%% the same reason (a bad decimal, descending tiers, a unit that does not
%% fit its measure, an unknown plan, a line whose invoice lines would
%% share a key with another's, ...).
-module(tally_plans_gen).

-export([plans/0, malformed/0]).

-spec plans() -> binary().
plans() ->
    Names = [<<"basic">>, <<"pro">>],
    Plans = [{Name, plan()} || Name <- Names],
    Customers = [{C, pick(Names)} || C <- customers(), rand:uniform(3) > 1],
    Default = pick([none, none, {some, pick(Names)}]),
    Doc = #{plans => Plans, customers => Customers, default => Default},
    encode(case rand:uniform(8) of 1 -> mistake(Doc); _ -> Doc end).

%% Documents of the wrong shape or not JSON at all: both engines refuse
%% them as invalid plans (in their own words, serde's citing line and column).
-spec malformed() -> [binary()].
malformed() ->
    [<<"">>, <<"{">>, <<"[]">>, <<"{\"plans\":{}} trailing">>, <<"{}">>,
     <<"{\"plans\":{},\"extra\":1}">>, <<"{\"plans\":{\"p\":{\"currency\":\"EUR\"}}}">>,
     <<"{\"plans\":{\"p\":{\"currency\":5,\"lines\":[]}}}">>,
     <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"lines\":[{\"meter\":\"m\",\"measure\":\"mean\",\"pricing\":{\"model\":\"flat\",\"unit_price\":\"1\"}}]}}}">>,
     <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"lines\":[{\"meter\":\"m\",\"measure\":\"total\",\"pricing\":{\"model\":\"flat\",\"unit_price\":1}}]}}}">>,
     <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"lines\":[{\"meter\":\"m\",\"measure\":\"total\",\"pricing\":{\"unit_price\":\"1\"}}]}}}">>,
     <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"lines\":[{\"meter\":\"m\",\"measure\":\"total\",\"pricing\":{\"model\":\"flat\",\"unit_price\":\"1\",\"x\":1}}]}}}">>,
     <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"lines\":[{\"meter\":\"m\",\"measure\":\"total\",\"bytes_per_gb\":-1,\"pricing\":{\"model\":\"flat\",\"unit_price\":\"1\"}}]}}}">>,
     <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"lines\":[{\"meter\":\"m\",\"measure\":\"total\",\"bytes_per_gb\":1.5,\"pricing\":{\"model\":\"flat\",\"unit_price\":\"1\"}}]}}}">>,
     <<"{\"plans\":{\"p\":{\"currency\":\"EUR\",\"currency\":\"USD\",\"lines\":[]}}}">>,
     <<"{\"plans\":{},\"customers\":null}">>,
     <<"{\"plans\":{},\"customers\":{\"acme\":1}}">>,
     <<"{\"plans\":{},\"plans\":{}}">>].

pick(List) -> lists:nth(rand:uniform(length(List)), List).

%% The customers of the generated events (a"q is written a\"q in their JSON).
customers() -> [<<"acme">>, <<"globex">>, <<"ünïcødé 客户"/utf8>>, <<"a\"q">>, <<"initech">>, <<"no-usage">>].

plan() ->
    {pick([<<"EUR">>, <<"USD">>]), distinct([line() || _ <- lists:seq(1, rand:uniform(4))])}.

%% Lines with the same meter, measure and scope (none is customer) would
%% share an invoice key: a good plan keeps the first of them.
distinct(Lines) ->
    Id = fun(#{meter := M, measure := Me, scope := S}) -> {M, Me, case S of none -> <<"customer">>; _ -> S end} end,
    {Kept, _} = lists:foldl(fun(L, {Acc, Seen}) ->
                                    case is_map_key(Id(L), Seen) of
                                        true -> {Acc, Seen};
                                        false -> {[L | Acc], Seen#{Id(L) => true}}
                                    end
                            end, {[], #{}}, Lines),
    lists:reverse(Kept).

line() ->
    {Meter, Measure, Unit} =
        pick([{<<"bandwidth_out_bytes">>, <<"total">>, pick([none, <<"unit">>, <<"GB">>])},
              {<<"bandwidth_out_bytes">>, <<"p95_rate">>, <<"Mbps">>},
              {<<"storage_bytes">>, <<"gb_month_average">>, <<"GB">>},
              {<<"storage_bytes">>, <<"peak">>, pick([<<"unit">>, <<"GB">>])},
              {<<"requests">>, <<"total">>, none},
              {<<"custom_meter">>, pick([<<"peak">>, <<"total">>]), none}]),
    #{meter => Meter, measure => Measure, unit => Unit,
      bytes_per_gb => pick([none, none, 1000000000, 1]),
      included => pick([none, none, decimal()]),
      scope => pick([none, <<"customer">>, <<"resource">>]),
      pricing => pricing()}.

decimal() ->
    pick([<<"0">>, <<"1">>, <<"2.5">>, <<"0.023">>, <<"1000">>, <<"0.0001">>, <<" 7 ">>, <<".5">>, <<"3.">>,
          <<"0.333333333333333333333333333333">>, <<"12345678901234567890">>]).

pricing() ->
    case rand:uniform(4) of
        1 -> {flat, decimal()};
        2 -> {graduated, tiers()};
        3 -> {volume, tiers()};
        4 -> {package, pick([<<"1">>, <<"100">>, <<"0.5">>, <<"1000000">>]), decimal()}
    end.

tiers() ->
    Bounds = lists:usort([pick([1, 10, 1000, 50000, 1000000]) || _ <- lists:seq(1, rand:uniform(3) - 1)]),
    [{{some, integer_to_binary(B)}, decimal(), pick([none, decimal()])} || B <- Bounds]
        ++ [{none, decimal(), pick([none, decimal()])}].

%% One mistake in an otherwise good document.
mistake(#{plans := [{Name, {Currency, [L | Ls]}} | Rest]} = Doc) ->
    Bad = case rand:uniform(9) of
              1 -> L#{pricing => {flat, pick([<<"1e3">>, <<"-1">>, <<"">>, <<"1.2.3">>, <<"\"q\"\n">>,
                                              <<"0.0000000000000000000000000000001">>,
                                              <<"999999999999999999999999999999999999999">>])}};
              2 -> L#{pricing => {graduated, [{{some, <<"10">>}, <<"1">>, none}, {{some, <<"5">>}, <<"1">>, none},
                                              {none, <<"1">>, none}]}};
              3 -> L#{pricing => {volume, []}};
              4 -> L#{pricing => {graduated, [{{some, <<"10">>}, <<"1">>, none}]}};
              5 -> L#{pricing => {volume, [{none, <<"1">>, none}, {none, <<"2">>, none}]}};
              6 -> L#{pricing => {package, <<"0">>, <<"5">>}};
              7 -> L#{measure => <<"p95_rate">>, unit => <<"GB">>};
              8 -> L#{bytes_per_gb => 0};
              9 -> L#{included => <<"ten">>}
          end,
    case rand:uniform(8) of
        1 -> Doc#{default => {some, <<"missing">>}};
        2 -> Doc#{customers => [{<<"acme">>, <<"gone">>}]};
        %% A plan or a customer given twice: refused, never the last copy kept.
        3 -> Doc#{plans => [{Name, {Currency, [L | Ls]}} | Rest] ++ [{Name, {Currency, [Bad]}}]};
        4 -> Doc#{customers => [{<<"a\"q">>, Name}, {<<"acme">>, Name}, {<<"a\"q">>, Name}]};
        %% A line repeated with another price: its invoice lines would share a key.
        5 -> Doc#{plans => [{Name, {Currency, [L | Ls] ++ [L#{pricing => pricing()}]}} | Rest]};
        _ -> Doc#{plans => [{Name, {Currency, [Bad | Ls]}} | Rest]}
    end.

%% JSON text -----------------------------------------------------------------

encode(#{plans := Plans, customers := Customers, default := Default}) ->
    iolist_to_binary(
      ["{\"plans\":{", join([[str(N), ":", plan_json(P)] || {N, P} <- Plans]), "}",
       case Customers of [] -> ""; _ -> [",\"customers\":{", join([[str(C), ":", str(P)] || {C, P} <- Customers]), "}"] end,
       case Default of none -> ""; {some, D} -> [",\"default_plan\":", str(D)] end,
       "}"]).

plan_json({Currency, Lines}) ->
    ["{\"currency\":", str(Currency), ",\"lines\":[", join([line_json(L) || L <- Lines]), "]}"].

line_json(L) ->
    Fields = [{meter, str(maps:get(meter, L))}, {measure, str(maps:get(measure, L))},
              {unit, opt_str(maps:get(unit, L))},
              {bytes_per_gb, case maps:get(bytes_per_gb, L) of none -> none; N -> integer_to_binary(N) end},
              {included, opt_str(maps:get(included, L))}, {scope, opt_str(maps:get(scope, L))},
              {pricing, pricing_json(maps:get(pricing, L))}],
    ["{", join([[str(atom_to_binary(K)), ":", V] || {K, V} <- Fields, V =/= none]), "}"].

opt_str(none) -> none;
opt_str(S) -> str(S).

pricing_json({flat, P}) -> ["{\"model\":\"flat\",\"unit_price\":", str(P), "}"];
pricing_json({package, Size, Price}) ->
    ["{\"model\":\"package\",\"package_size\":", str(Size), ",\"package_price\":", str(Price), "}"];
pricing_json({Model, Tiers}) ->
    ["{\"model\":", str(atom_to_binary(Model)), ",\"tiers\":[", join([tier_json(T) || T <- Tiers]), "]}"].

tier_json({UpTo, Price, Fee}) ->
    Fields = [{up_to, case UpTo of none -> none; {some, U} -> str(U) end}, {unit_price, str(Price)},
              {flat_fee, opt_str(Fee)}],
    ["{", join([[str(atom_to_binary(K)), ":", V] || {K, V} <- Fields, V =/= none]), "}"].

join(Parts) -> lists:join(",", Parts).

str(S) -> [$", [case C of $\n -> "\\n"; $" -> "\\\""; $\\ -> "\\\\"; _ -> C end || <<C>> <= S], $"].
