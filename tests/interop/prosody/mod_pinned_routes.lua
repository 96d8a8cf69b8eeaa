-- Test-only Prosody plugin: reach the domains in `pinned_routes` ({ ["domain"] = { "ip", port } })
-- at a fixed address instead of DNS, so federation tests never leave loopback.
-- Prosody's mod_s2s resolves through net.resolvers.service.new at connect time; wrapping that
-- one function is enough.
module:set_global();

local service = require "net.resolvers.service";
local basic = require "net.resolvers.basic";
local manual = require "net.resolvers.manual";

local routes = module:get_option("pinned_routes", {});
local original_new = service.new;

service.new = function(hostname, service_name, conn_type, extra)
	local route = routes[hostname];
	if route == nil then
		return original_new(hostname, service_name, conn_type, extra);
	end
	if service_name == "xmpps-server" then
		return manual.new({}, conn_type, extra); -- no direct TLS: STARTTLS on the pinned port
	end
	return basic.new(route[1], route[2], conn_type, extra);
end

function module.unload()
	service.new = original_new;
end
