/*! tally.js - a Matomo-compatible tracker; readable source: tally.src.js */
/*
 * tally's browser tracker. It speaks Matomo's HTTP Tracking API, so a page written for
 * matomo.js keeps working once its script URL points at tally (the `_paq` queue, the
 * Matomo.getTracker() object and the request parameters are the same).
 * `tally.js` beside this file is its minified build (see build.sh).
 */
(function (window, document) {
  "use strict";

  if (window.tally && window.tally.isTally) {
    return; // loaded twice (e.g. as tally.js and as matomo.js): keep the first one
  }

  var navigator = window.navigator;
  var encode = window.encodeURIComponent;

  // Matomo's default list of download extensions (a link to such a file is a download).
  var DOWNLOAD_EXTENSIONS = (
    "7z aac apk arc arj asc asf asx avi azw3 bin csv deb dmg doc docx epub exe flv gif gz " +
    "gzip hqx ibooks jar jpg jpeg js mobi mp2 mp3 mp4 mpg mpeg mov movie msi msp odb odf odg " +
    "ods odt ogg ogv pdf phps png ppt pptx qt qtm ra ram rar rpm rtf sea sit tar tbz tbz2 bz " +
    "bz2 tgz torrent txt wav wma wmv wpd xls xlsx xml z zip"
  ).split(" ");

  // Commands that configure the tracker (set..., add..., enable..., disable..., require...,
  // always...) run before the tracking commands of a queue filled before this script
  // loaded: the standard snippet pushes trackPageView before setTrackerUrl/setSiteId, and
  // matomo.js likewise applies its configuration first. A name pattern instead of a list
  // of names keeps the script under 8 KB.
  var APPLY_FIRST = /^(set|add|enable|disable|require|always)[A-Z]/;

  var CONSENT_COOKIE = "mtm_consent";
  var COOKIE_CONSENT_COOKIE = "mtm_cookie_consent";
  var VISITOR_COOKIE_SECONDS = 33696000; // 13 months, Matomo's default
  var MAX_GET_URL = 2000; // longer requests go by POST body so no proxy truncates them

  function randomHex(length) {
    var out = "";
    var crypto = window.crypto;
    var bytes = crypto && crypto.getRandomValues ? crypto.getRandomValues(new Uint8Array(length)) : null;
    for (var i = 0; i < length; i++) {
      out += ((bytes ? bytes[i] : Math.random() * 256) & 15).toString(16);
    }
    return out;
  }

  function randomId(length) {
    var alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    var out = "";
    for (var i = 0; i < length; i++) {
      out += alphabet.charAt(Math.floor(Math.random() * alphabet.length));
    }
    return out;
  }

  // A short, stable suffix for cookie names (Matomo uses part of a SHA-1 of domain and path;
  // any stable 4-hex tag works because existing _pk_id cookies are found by prefix).
  function shortHash(text) {
    var hash = 0;
    for (var i = 0; i < text.length; i++) {
      hash = (hash * 31 + text.charCodeAt(i)) | 0;
    }
    return ((hash >>> 0) & 0xffff).toString(16);
  }

  function readCookies() {
    var found = {};
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) {
      var cut = parts[i].indexOf("=");
      try {
        found[parts[i].slice(0, cut)] = decodeURIComponent(parts[i].slice(cut + 1));
      } catch (error) {
        // another script's cookie that is not URI-encoded: not ours, skip it
      }
    }
    return found;
  }

  function extensionOf(path) {
    var name = path.split("/").pop();
    var dot = name.lastIndexOf(".");
    return dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
  }

  function hasClass(element, names) {
    var classes = " " + (element.className || "") + " ";
    for (var i = 0; i < names.length; i++) {
      if (classes.indexOf(" " + names[i] + " ") >= 0) {
        return true;
      }
    }
    return false;
  }

  function Tracker(trackerUrl, siteId) {
    var self = this;
    var config = {
      trackerUrl: trackerUrl || "",
      siteId: siteId || "",
      cookies: true,
      cookiePrefix: "_pk_",
      cookieDomain: "",
      cookiePath: "/",
      domains: [],
      downloadExtensions: DOWNLOAD_EXTENSIONS.slice(),
      downloadClasses: ["tally_download", "matomo_download", "piwik_download"],
      ignoreClasses: ["tally_ignore", "matomo_ignore", "piwik_ignore"],
      beacon: true,
      method: "GET",
      userId: "",
      visitorId: "",
      dimensions: {},
      variables: { visit: {}, page: {} },
      cart: {},
      customUrl: "",
      referrerUrl: document.referrer,
      title: "",
      appended: "",
      heartbeatSeconds: 0
    };
    var pageViewId = "";
    var consent = null; // null: not required; false: required and not given yet; true: given
    var waiting = [];
    var linkTrackingOn = false;
    var heartbeatTimer = null;
    var activeSincePing = false;

    // -- the visitor id: first-party cookie, or nothing at all in cookieless mode ----------

    function visitorCookieName() {
      var prefix = config.cookiePrefix + "id." + config.siteId + ".";
      var cookies = readCookies();
      for (var name in cookies) {
        if (name.indexOf(prefix) === 0) {
          return name; // keep a cookie matomo.js set earlier, so visitors stay the same
        }
      }
      return prefix + shortHash((config.cookieDomain || location.hostname) + config.cookiePath);
    }

    function writeCookie(name, value, seconds) {
      var text = name + "=" + encode(value) + "; path=" + config.cookiePath + "; SameSite=Lax";
      text += "; max-age=" + seconds;
      if (config.cookieDomain) {
        text += "; domain=" + config.cookieDomain;
      }
      if (location.protocol === "https:") {
        text += "; Secure";
      }
      document.cookie = text;
    }

    // [visitor id, first visit timestamp], creating and storing them on the first call.
    function visitor() {
      if (!config.cookies) {
        return null;
      }
      var name = visitorCookieName();
      var stored = (readCookies()[name] || "").split(".");
      var id = config.visitorId || (/^[0-9a-f]{16}$/.test(stored[0]) ? stored[0] : randomHex(16));
      var since = parseInt(stored[1], 10) || Math.floor(new Date().getTime() / 1000);
      writeCookie(name, id + "." + since, VISITOR_COOKIE_SECONDS);
      return [id, since];
    }

    // -- building and sending one request -------------------------------------------------

    function buildQuery(extra) {
      var now = new Date();
      var params = {
        idsite: config.siteId,
        rec: 1,
        r: randomId(6),
        h: now.getHours(),
        m: now.getMinutes(),
        s: now.getSeconds(),
        url: config.customUrl || location.href,
        res: window.screen ? screen.width + "x" + screen.height : "",
        cookie: config.cookies ? 1 : 0
      };
      if (config.referrerUrl) {
        params.urlref = config.referrerUrl;
      }
      var who = visitor();
      if (who) {
        params._id = who[0];
        params._idts = who[1];
      }
      if (config.userId) {
        params.uid = config.userId;
      }
      if (pageViewId) {
        params.pv_id = pageViewId;
      }
      for (var id in config.dimensions) {
        params["dimension" + id] = config.dimensions[id];
      }
      // custom variables as matomo.js sends them, on every request of the page: the
      // visit's (_cvar) and the page's (cvar)
      var scopes = { _cvar: config.variables.visit, cvar: config.variables.page };
      for (var scope in scopes) {
        var text = window.JSON.stringify(scopes[scope]);
        if (text !== "{}") {
          params[scope] = text;
        }
      }
      for (var key in extra) {
        if (extra[key] !== undefined && extra[key] !== null && extra[key] !== "") {
          params[key] = extra[key];
        }
      }
      var parts = [];
      for (var name in params) {
        if (params[name] !== "") {
          parts.push(encode(name) + "=" + encode(params[name]));
        }
      }
      return parts.join("&") + config.appended;
    }

    function sendByXhr(query, method) {
      try {
        var xhr = new XMLHttpRequest();
        var post = method === "POST";
        xhr.open(post ? "POST" : "GET", config.trackerUrl + (post ? "" : "?" + query), true);
        xhr.withCredentials = false;
        if (post) {
          xhr.setRequestHeader("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8");
        }
        xhr.send(post ? query : null);
        return true;
      } catch (error) {
        return false;
      }
    }

    // sendBeacon survives the page unloading (an outbound click); the parameters go in the
    // URL as matomo.js sends them. Without it: an image request, or a POST when too long.
    function send(query) {
      if (!config.trackerUrl || !config.siteId) {
        return false;
      }
      if (config.beacon && navigator.sendBeacon && config.method === "GET") {
        var beaconUrl = config.trackerUrl + "?" + query + "&send_image=0";
        if (beaconUrl.length <= MAX_GET_URL) {
          try {
            if (navigator.sendBeacon(beaconUrl, "")) {
              return true;
            }
          } catch (error) {
            // some browsers throw on a blocked beacon; fall through to the other ways
          }
        }
      }
      var getUrl = config.trackerUrl + "?" + query;
      if (config.method === "POST" || getUrl.length > MAX_GET_URL) {
        return sendByXhr(query + "&send_image=0", "POST");
      }
      var image = new Image(1, 1);
      image.src = getUrl;
      return true;
    }

    // With requireConsent, requests wait (unsent, no cookie written) until consent is given.
    function track(extra) {
      if (consent === false) {
        waiting.push(extra);
        return false;
      }
      return send(buildQuery(extra));
    }

    // -- heartbeat: pings add time on page, never an action ---------------------------------

    function noteActivity() {
      activeSincePing = true;
    }

    function heartbeat() {
      heartbeatTimer = null;
      var visible = !document.visibilityState || document.visibilityState === "visible";
      if (pageViewId && visible && activeSincePing) {
        activeSincePing = false;
        track({ ping: 1, ca: 1 });
      }
      scheduleHeartbeat();
    }

    function scheduleHeartbeat() {
      if (config.heartbeatSeconds > 0 && !heartbeatTimer) {
        heartbeatTimer = window.setTimeout(heartbeat, config.heartbeatSeconds * 1000);
      }
    }

    // -- link clicks: outbound links and downloads -----------------------------------------

    function isOwnHost(hostname) {
      if (hostname === location.hostname) {
        return true;
      }
      for (var i = 0; i < config.domains.length; i++) {
        var domain = config.domains[i].replace(/^\*\./, "").replace(/\/.*$/, "");
        if (hostname === domain || hostname.slice(-domain.length - 1) === "." + domain) {
          return true;
        }
      }
      return false;
    }

    // "download", "link" or "" for a clicked anchor: the seed's rule (another hostname,
    // mailto: excluded) generalised to every non-web scheme (tel:, javascript:, ...).
    function linkKind(anchor) {
      if (!anchor.href || hasClass(anchor, config.ignoreClasses)) {
        return "";
      }
      if (!/^https?:$/.test(anchor.protocol)) {
        return "";
      }
      if (
        hasClass(anchor, config.downloadClasses) ||
        anchor.hasAttribute("download") ||
        config.downloadExtensions.indexOf(extensionOf(anchor.pathname)) >= 0
      ) {
        return "download";
      }
      return isOwnHost(anchor.hostname) ? "" : "link";
    }

    function onClick(event) {
      if (event.type === "auxclick" && event.button !== 1) {
        return; // only the middle button opens a link among the "other" buttons
      }
      var node = event.target;
      while (node && node.nodeName !== "A" && node.nodeName !== "AREA") {
        node = node.parentNode;
      }
      if (!node) {
        return;
      }
      var kind = linkKind(node);
      if (kind) {
        self.trackLink(node.href, kind);
      }
    }

    // -- the public methods (the names matomo.js uses) ---------------------------------------

    self.setTrackerUrl = function (url) { config.trackerUrl = url; };
    self.getTrackerUrl = function () { return config.trackerUrl; };
    self.setSiteId = function (id) { config.siteId = String(id); };
    self.getSiteId = function () { return config.siteId; };
    self.setUserId = function (id) { config.userId = id ? String(id) : ""; };
    self.getUserId = function () { return config.userId; };
    self.resetUserId = function () { config.userId = ""; };
    self.setVisitorId = function (id) {
      if (/^[0-9a-fA-F]{16}$/.test(id)) {
        config.visitorId = id.toLowerCase();
      }
    };
    self.getVisitorId = function () {
      var who = visitor();
      return who ? who[0] : "";
    };
    self.disableCookies = function () {
      config.cookies = false;
      var cookies = readCookies();
      for (var name in cookies) {
        if (name.indexOf(config.cookiePrefix + "id.") === 0) {
          writeCookie(name, "", -1); // cookieless means no cookie left behind either
        }
      }
    };
    // Consent, as matomo.js: "remember" stores the answer in a cookie for later page views.
    self.requireConsent = function () {
      consent = consent || !!readCookies()[CONSENT_COOKIE];
    };
    self.setConsentGiven = function () {
      consent = true;
      while (waiting.length) {
        track(waiting.shift());
      }
    };
    self.rememberConsentGiven = function () {
      writeCookie(CONSENT_COOKIE, "1", VISITOR_COOKIE_SECONDS);
      self.setConsentGiven();
    };
    self.forgetConsentGiven = function () {
      writeCookie(CONSENT_COOKIE, "", -1);
      self.disableCookies();
      config.cookies = true; // cookies come back only with consent, which is now required
      consent = false;
    };
    self.requireCookieConsent = function () {
      if (!readCookies()[COOKIE_CONSENT_COOKIE]) {
        config.cookies = false;
      }
    };
    self.setCookieConsentGiven = function () { config.cookies = true; };
    self.rememberCookieConsentGiven = function () {
      writeCookie(COOKIE_CONSENT_COOKIE, "1", VISITOR_COOKIE_SECONDS);
      config.cookies = true;
    };
    self.forgetCookieConsentGiven = function () {
      writeCookie(COOKIE_CONSENT_COOKIE, "", -1);
      self.disableCookies();
    };
    self.setCookieDomain = function (domain) { config.cookieDomain = domain; };
    self.setCookiePath = function (path) { config.cookiePath = path; };
    self.setCookieNamePrefix = function (prefix) { config.cookiePrefix = prefix; };
    self.setDomains = function (domains) {
      config.domains = typeof domains === "string" ? [domains] : domains.slice();
    };
    self.setDownloadExtensions = function (list) {
      config.downloadExtensions = typeof list === "string" ? list.split("|") : list.slice();
    };
    self.addDownloadExtensions = function (list) {
      var added = typeof list === "string" ? list.split("|") : list;
      config.downloadExtensions = config.downloadExtensions.concat(added);
    };
    self.setDownloadClasses = function (list) {
      config.downloadClasses = config.downloadClasses.concat(list);
    };
    self.setIgnoreClasses = function (list) {
      config.ignoreClasses = config.ignoreClasses.concat(list);
    };
    self.alwaysUseSendBeacon = function () { config.beacon = true; };
    self.disableAlwaysUseSendBeacon = function () { config.beacon = false; };
    self.setRequestMethod = function (method) { config.method = String(method).toUpperCase(); };
    self.setCustomUrl = function (url) { config.customUrl = url; };
    self.setReferrerUrl = function (url) { config.referrerUrl = url; };
    self.setDocumentTitle = function (title) { config.title = title; };
    self.appendToTrackingUrl = function (text) { config.appended = text ? "&" + text : ""; };
    self.setCustomDimension = function (id, value) { config.dimensions[id] = value; };
    self.getCustomDimension = function (id) { return config.dimensions[id]; };
    self.deleteCustomDimension = function (id) { delete config.dimensions[id]; };
    // Matomo's custom variables: index 1-5 (or more), scope "visit" (the default) or "page"
    self.setCustomVariable = function (index, name, value, scope) {
      var variables = config.variables[scope === "page" ? "page" : "visit"];
      if (name) {
        variables[String(index)] = [String(name), value === undefined ? "" : String(value)];
      }
    };
    self.getCustomVariable = function (index, scope) {
      var found = config.variables[scope === "page" ? "page" : "visit"][String(index)];
      return found || false;
    };
    self.deleteCustomVariable = function (index, scope) {
      delete config.variables[scope === "page" ? "page" : "visit"][String(index)];
    };
    self.deleteCustomVariables = function (scope) {
      config.variables[scope === "page" ? "page" : "visit"] = {};
    };

    // -- ecommerce: the cart, cart updates and orders, as matomo.js sends them ------------
    self.addEcommerceItem = function (sku, name, category, price, quantity) {
      if (sku) {
        config.cart[sku] = [String(sku), name || "", category || "", price || 0, quantity || 1];
      }
    };
    self.removeEcommerceItem = function (sku) { delete config.cart[sku]; };
    self.clearEcommerceCart = function () { config.cart = {}; };
    self.getEcommerceItems = function () { return cartItems(); };
    function cartItems() {
      var items = [];
      for (var sku in config.cart) {
        items.push(config.cart[sku]);
      }
      return items;
    }
    self.trackEcommerceCartUpdate = function (grandTotal) {
      return track({ idgoal: 0, revenue: grandTotal, ec_items: window.JSON.stringify(cartItems()) });
    };
    self.trackEcommerceOrder = function (orderId, grandTotal, subTotal, tax, shipping, discount) {
      if (!orderId) {
        return false;
      }
      var sent = track({
        idgoal: 0, ec_id: orderId, revenue: grandTotal, ec_st: subTotal, ec_tx: tax,
        ec_sh: shipping, ec_dt: discount, ec_items: window.JSON.stringify(cartItems())
      });
      config.cart = {};
      return sent;
    };

    self.trackPageView = function (title) {
      pageViewId = randomId(6);
      activeSincePing = false;
      var sent = track({ action_name: title || config.title || document.title });
      // the first ping comes a whole period after the page view, as matomo.js's does (a
      // timer armed earlier, by enableHeartBeatTimer, would ping sooner)
      if (heartbeatTimer) {
        window.clearTimeout(heartbeatTimer);
        heartbeatTimer = null;
      }
      scheduleHeartbeat();
      return sent;
    };
    self.trackEvent = function (category, action, name, value) {
      if (!category || !action) {
        return false; // Matomo rejects an event without category and action
      }
      return track({ e_c: category, e_a: action, e_n: name, e_v: value, ca: 1 });
    };
    self.trackSiteSearch = function (keyword, category, resultsCount) {
      return track({ search: keyword, search_cat: category, search_count: resultsCount });
    };
    self.trackGoal = function (goalId, revenue) {
      return track({ idgoal: goalId, revenue: revenue, ca: 1 });
    };
    self.trackLink = function (url, kind) {
      var extra = { ca: 1 };
      extra[kind === "download" ? "download" : "link"] = url;
      return track(extra);
    };
    self.enableLinkTracking = function () {
      if (!linkTrackingOn) {
        linkTrackingOn = true;
        // One listener on the document also covers links added after the page loaded.
        document.addEventListener("click", onClick, true);
        document.addEventListener("auxclick", onClick, true);
      }
    };
    self.enableHeartBeatTimer = function (seconds) {
      config.heartbeatSeconds = Math.max(Number(seconds) || 15, 1);
      var events = ["mousemove", "keydown", "scroll", "touchstart", "click", "focus"];
      for (var i = 0; i < events.length; i++) {
        window.addEventListener(events[i], noteActivity, true);
      }
      scheduleHeartbeat();
    };
    self.disableHeartBeatTimer = function () {
      config.heartbeatSeconds = 0;
      if (heartbeatTimer) {
        window.clearTimeout(heartbeatTimer);
        heartbeatTimer = null;
      }
    };
    self.ping = function () { return track({ ping: 1, ca: 1 }); };
  }

  // -- the _paq queue -----------------------------------------------------------------------

  var tracker = new Tracker();

  function apply(command) {
    var name = command[0];
    if (typeof name === "function") {
      name.apply(tracker, command.slice(1)); // _paq.push([function () { this.trackGoal(1) }])
    } else if (typeof tracker[name] === "function") {
      tracker[name].apply(tracker, command.slice(1));
    } else if (window.console) {
      window.console.warn("tally.js: unknown command " + name);
    }
  }

  function applyQueue(queue) {
    var rest = [];
    for (var i = 0; i < queue.length; i++) {
      var command = queue[i];
      if (command && APPLY_FIRST.test(command[0])) {
        apply(command);
      } else if (command) {
        rest.push(command);
      }
    }
    for (var j = 0; j < rest.length; j++) {
      apply(rest[j]);
    }
  }

  var queued = window._paq || [];
  // After load, push runs a command at once; the object keeps the array-like push API.
  window._paq = {
    push: function () {
      for (var i = 0; i < arguments.length; i++) {
        apply(arguments[i]);
      }
      return 0;
    }
  };
  var api = {
    isTally: true,
    getTracker: function (url, siteId) { return new Tracker(url, siteId); },
    getAsyncTracker: function () { return tracker; }
  };
  window.tally = api;
  window.Matomo = window.Matomo || api;
  window.Piwik = window.Piwik || api;
  applyQueue(queued);
})(window, document);
