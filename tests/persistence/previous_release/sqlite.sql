-- A status-store database as the last release before Alembic (commit f9d6374) left it: its StatusStore,
-- Ledger, SubscriberStore and SelfService created their tables at start, then one publication with three
-- delivered channels, a department token, an idempotent answer, a 索引号 counter, an outbox message, an audit
-- row, a console session, a ledger entry and a subscribed business were written through their methods.
-- Dumped with Python's sqlite3 iterdump() (what `sqlite3 status.db .dump` prints).
-- tests/persistence/test_migrations.py upgrades it in place.
BEGIN TRANSACTION;
CREATE TABLE adapter_ledger (
	channel VARCHAR(30) NOT NULL,
	delivery_id VARCHAR(64) NOT NULL,
	external_ref VARCHAR(200),
	facts TEXT NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (channel, delivery_id)
);
INSERT INTO "adapter_ledger" VALUES('wechat','dlv_fixture_0001','publish_42','{"media_id": "m_1"}','2026-12-02 07:48:04.277680');
CREATE TABLE archived_index_nos (
	index_no VARCHAR(80) NOT NULL,
	PRIMARY KEY (index_no)
);
CREATE TABLE audit_log (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	at DATETIME NOT NULL,
	actor_id VARCHAR(40) NOT NULL,
	actor_name VARCHAR(100) NOT NULL,
	actor_kind VARCHAR(20) NOT NULL,
	action VARCHAR(40) NOT NULL,
	target VARCHAR(60) NOT NULL,
	detail TEXT NOT NULL,
	client VARCHAR(64),
	prev_hash VARCHAR(64) NOT NULL,
	hash VARCHAR(64) NOT NULL
);
INSERT INTO "audit_log" VALUES(1,'2026-12-02 07:48:04.243986','prn_dept0000000000000001','济南市人民政府办公厅（演示）','department','publication.submit','pub_00000000000000000001','{"title": "济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知"}',NULL,'0000000000000000000000000000000000000000000000000000000000000000','f63311c0cfffbe6368a18e970fef859a37ecd40e172494d8cf67ad2e20839572');
CREATE TABLE channel_pauses (
	channel VARCHAR(30) NOT NULL,
	paused_by VARCHAR(120) NOT NULL,
	reason TEXT NOT NULL,
	paused_at DATETIME NOT NULL,
	PRIMARY KEY (channel)
);
CREATE TABLE console_sessions (
	id_hash VARCHAR(64) NOT NULL,
	principal_id VARCHAR(40) NOT NULL,
	csrf VARCHAR(64) NOT NULL,
	created_at DATETIME NOT NULL,
	last_seen DATETIME NOT NULL,
	PRIMARY KEY (id_hash)
);
INSERT INTO "console_sessions" VALUES('e59ed694246a25991fcf89265d0610957ec5864aa3584cb155e8eaf37e8f7c5c','prn_dept0000000000000001','rkuEA_qU8xKHsl4OohlxOvB23Sh4LHbdwlNkmEvVkFI','2026-12-02 07:48:04.359740','2026-12-02 07:48:04.359740');
CREATE TABLE dead_letters (
	event_id VARCHAR(64) NOT NULL,
	kind VARCHAR(20) NOT NULL,
	publication_id VARCHAR(40),
	version INTEGER,
	channel VARCHAR(30),
	recipient VARCHAR(40),
	reason TEXT NOT NULL,
	event TEXT NOT NULL,
	at DATETIME NOT NULL,
	requeued_at DATETIME,
	requeued_by VARCHAR(120),
	PRIMARY KEY (event_id)
);
CREATE TABLE deliveries (
	publication_id VARCHAR(40) NOT NULL,
	channel VARCHAR(30) NOT NULL,
	version INTEGER NOT NULL,
	status VARCHAR(20) NOT NULL,
	url TEXT,
	detail TEXT,
	progress INTEGER,
	updated_at DATETIME NOT NULL,
	queued_at DATETIME,
	PRIMARY KEY (publication_id, channel)
);
INSERT INTO "deliveries" VALUES('pub_00000000000000000001','portal',1,'delivered','https://gov.test/portal/1',NULL,NULL,'2026-12-02 07:48:04.105380','2026-12-02 07:48:04.105380');
INSERT INTO "deliveries" VALUES('pub_00000000000000000001','wechat',1,'delivered','https://gov.test/wechat/1',NULL,NULL,'2026-12-02 07:48:04.173354','2026-12-02 07:48:04.173354');
INSERT INTO "deliveries" VALUES('pub_00000000000000000001','weibo',1,'delivered','https://gov.test/weibo/1',NULL,NULL,'2026-12-02 07:48:04.193369','2026-12-02 07:48:04.193369');
CREATE TABLE delivery_outcomes (
	event_id VARCHAR(64) NOT NULL,
	channel VARCHAR(30) NOT NULL,
	outcome VARCHAR(20) NOT NULL,
	latency_ms INTEGER,
	detail TEXT,
	at DATETIME NOT NULL,
	PRIMARY KEY (event_id)
);
INSERT INTO "delivery_outcomes" VALUES('evt_portal','portal','delivered',0,'','2026-12-02 07:48:04.105380');
INSERT INTO "delivery_outcomes" VALUES('evt_wechat','wechat','delivered',0,'','2026-12-02 07:48:04.173354');
INSERT INTO "delivery_outcomes" VALUES('evt_weibo','weibo','delivered',0,'','2026-12-02 07:48:04.193369');
CREATE TABLE expiries (
	publication_id VARCHAR(40) NOT NULL,
	expires_on DATE NOT NULL,
	PRIMARY KEY (publication_id)
);
CREATE TABLE idempotency (
	principal VARCHAR(40) NOT NULL,
	"key" VARCHAR(200) NOT NULL,
	request_hash VARCHAR(64) NOT NULL,
	status_code INTEGER NOT NULL,
	response TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	PRIMARY KEY (principal, "key")
);
INSERT INTO "idempotency" VALUES('prn_dept0000000000000001','cms-0001','0000000000000000000000000000000000000000000000000000000000000000',202,'{"id": "pub_00000000000000000001"}','2026-12-02 07:48:04.220960');
CREATE TABLE index_sequences (
	publisher_code VARCHAR(40) NOT NULL,
	year INTEGER NOT NULL,
	last INTEGER NOT NULL,
	PRIMARY KEY (publisher_code, year)
);
INSERT INTO "index_sequences" VALUES('11370100004188591X',2025,1);
CREATE TABLE outbox (
	seq INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	topic VARCHAR(100) NOT NULL,
	"key" VARCHAR(200) NOT NULL,
	event TEXT NOT NULL,
	created_at DATETIME NOT NULL
);
INSERT INTO "outbox" VALUES(1,'govcast.status','pub_00000000000000000001','{"specversion":"1.0","id":"evt_outbox_fixture","source":"/fixture","type":"govcast.status.changed","subject":"pub_00000000000000000001","time":"2026-12-02T07:48:04.241708Z","datacontenttype":"application/json","data":{"n":1}}','2026-12-02 07:48:04.241768');
CREATE TABLE publications (
	id VARCHAR(40) NOT NULL,
	department VARCHAR(40) NOT NULL,
	kind VARCHAR(20) NOT NULL,
	title TEXT NOT NULL,
	index_no VARCHAR(60) NOT NULL,
	category VARCHAR(50) NOT NULL,
	version INTEGER NOT NULL,
	status VARCHAR(20) NOT NULL,
	channels TEXT NOT NULL,
	publish_at DATETIME,
	released_version INTEGER,
	retracted BOOLEAN NOT NULL,
	doc TEXT NOT NULL,
	created_at DATETIME NOT NULL,
	updated_at DATETIME NOT NULL,
	doc_no VARCHAR(100),
	publish_date DATE,
	validity VARCHAR(10),
	related_ids TEXT,
	PRIMARY KEY (id),
	UNIQUE (index_no)
);
INSERT INTO "publications" VALUES('pub_00000000000000000001','11370100004188591X','policy','济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知','11370100004188591X/2025-00001','政策文件',1,'delivered','["portal", "wechat", "weibo"]',NULL,NULL,0,'{"title":"济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知","body":"<p>各区县人民政府，市政府各部门（单位）：</p><p>《2025年济南市政务公开工作要点》已经市政府同意，现印发给你们，请认真贯彻落实。</p><h2>一、做实重点领域主动公开</h2><p>及时公开绿色低碳发展、城市更新、乡村振兴等政策信息，做好就业创业、教育、养老服务等民生领域信息公开。</p><h2>二、推进政策服务提质增效</h2><p>加强全市政府文件库建设，优化政策信息点对点推送，政策文件与解读材料同步起草、同步审签、同步发布。</p><h2>三、打造集约高效公开平台</h2><p>实现政府网站、12345热线、政务服务平台、政务新媒体等多渠道信息数据共享。</p>","summary":"部署2025年全市政务公开重点任务：重点领域主动公开、政策服务提质增效、政民政企互动、依申请公开和平台建设。","kind":"policy","index_no":"11370100004188591X/2025-00001","category":"政策文件","theme":"综合政务\\政务公开","publisher":"济南市人民政府办公厅（演示）","publisher_code":"11370100004188591X","written_date":"2025-03-04","publish_date":"2025-03-05","doc_no":"济政办字〔2025〕8号","validity":"有效","keywords":["政务公开","工作要点"],"related":[],"attachments":[],"review":[{"stage":"初审","reviewer":"王敏","at":"2025-03-03T09:10:00+08:00"},{"stage":"复审","reviewer":"李强","at":"2025-03-03T15:40:00+08:00"},{"stage":"终审","reviewer":"张红","at":"2025-03-04T10:05:00+08:00"}],"channels":["portal","wechat","weibo"],"targeting":null,"publish_at":null,"units":[],"disclosure_matter":null,"issuers":[],"normative":false,"normative_no":"","effective_date":null,"expiry_date":null,"change_note":"","id":"pub_00000000000000000001","version":1,"department":"11370100004188591X","index":{"code":"11370100004188591X","year":2025,"sequence":1,"width":5},"body_html":"<p>各区县人民政府，市政府各部门（单位）：</p><p>《2025年济南市政务公开工作要点》已经市政府同意，现印发给你们，请认真贯彻落实。</p><h2>一、做实重点领域主动公开</h2><p>及时公开绿色低碳发展、城市更新、乡村振兴等政策信息，做好就业创业、教育、养老服务等民生领域信息公开。</p><h2>二、推进政策服务提质增效</h2><p>加强全市政府文件库建设，优化政策信息点对点推送，政策文件与解读材料同步起草、同步审签、同步发布。</p><h2>三、打造集约高效公开平台</h2><p>实现政府网站、12345热线、政务服务平台、政务新媒体等多渠道信息数据共享。</p>","body_text":"各区县人民政府，市政府各部门（单位）：\n《2025年济南市政务公开工作要点》已经市政府同意，现印发给你们，请认真贯彻落实。\n一、做实重点领域主动公开\n及时公开绿色低碳发展、城市更新、乡村振兴等政策信息，做好就业创业、教育、养老服务等民生领域信息公开。\n二、推进政策服务提质增效\n加强全市政府文件库建设，优化政策信息点对点推送，政策文件与解读材料同步起草、同步审签、同步发布。\n三、打造集约高效公开平台\n实现政府网站、12345热线、政务服务平台、政务新媒体等多渠道信息数据共享。","submitted_at":"2025-03-05T09:00:00+08:00","retracted":false,"retract_reason":null,"lapsed_by":null}','2026-12-02 07:48:04.071377','2026-12-02 07:48:04.215140','济政办字〔2025〕8号','2025-03-05','有效','[]');
CREATE TABLE push_campaigns (
	publication_id VARCHAR(40) NOT NULL,
	version INTEGER NOT NULL,
	queued INTEGER NOT NULL,
	"deferred" INTEGER NOT NULL,
	sent INTEGER NOT NULL,
	delivered INTEGER NOT NULL,
	failed INTEGER NOT NULL,
	skipped INTEGER NOT NULL,
	unsubscribed INTEGER NOT NULL,
	PRIMARY KEY (publication_id, version)
);
CREATE TABLE push_clicks (
	publication_id VARCHAR(40) NOT NULL,
	channel VARCHAR(20) NOT NULL,
	clicks INTEGER NOT NULL,
	PRIMARY KEY (publication_id, channel)
);
CREATE TABLE push_confirmation_sends (
	id INTEGER NOT NULL,
	"key" VARCHAR(64) NOT NULL,
	at DATETIME NOT NULL,
	PRIMARY KEY (id)
);
CREATE TABLE push_confirmations (
	id VARCHAR(32) NOT NULL,
	credit_code VARCHAR(18) NOT NULL,
	purpose VARCHAR(10) NOT NULL,
	channel VARCHAR(10) NOT NULL,
	secret_mac VARCHAR(64) NOT NULL,
	doc TEXT,
	created_at DATETIME NOT NULL,
	expires_at DATETIME NOT NULL,
	attempts INTEGER NOT NULL,
	used_at DATETIME,
	PRIMARY KEY (id)
);
CREATE TABLE push_directory (
	id INTEGER NOT NULL,
	revision INTEGER NOT NULL,
	PRIMARY KEY (id)
);
INSERT INTO "push_directory" VALUES(1,1);
CREATE TABLE push_directory_tallies (
	name VARCHAR(40) NOT NULL,
	n INTEGER NOT NULL,
	PRIMARY KEY (name)
);
CREATE TABLE push_recipients (
	delivery_id VARCHAR(64) NOT NULL,
	publication_id VARCHAR(40) NOT NULL,
	version INTEGER NOT NULL,
	credit_code VARCHAR(18) NOT NULL,
	status VARCHAR(20) NOT NULL,
	channel VARCHAR(20),
	detail TEXT,
	day VARCHAR(10),
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (delivery_id)
);
CREATE TABLE push_secrets (
	name VARCHAR(40) NOT NULL,
	value VARCHAR(200) NOT NULL,
	PRIMARY KEY (name)
);
CREATE TABLE push_subscriber_history (
	id INTEGER NOT NULL,
	credit_code VARCHAR(18) NOT NULL,
	at DATETIME NOT NULL,
	actor VARCHAR(20) NOT NULL,
	change TEXT NOT NULL,
	PRIMARY KEY (id)
);
CREATE TABLE push_subscribers (
	credit_code VARCHAR(18) NOT NULL,
	region VARCHAR(30) NOT NULL,
	industry VARCHAR(5) NOT NULL,
	scale VARCHAR(10) NOT NULL,
	qualifications TEXT NOT NULL,
	topics TEXT NOT NULL,
	active BOOLEAN NOT NULL,
	doc TEXT NOT NULL,
	updated_at DATETIME NOT NULL,
	PRIMARY KEY (credit_code)
);
INSERT INTO "push_subscribers" VALUES('91370100000000001W','槐荫区','F5123','大型','高新技术企业','消费|绿色低碳|对外贸易',1,'{"name": "济南测试企业000001有限公司", "region": "槐荫区", "industry": "F5123", "scale": "大型", "qualifications": ["高新技术企业"], "topics": ["消费", "绿色低碳", "对外贸易"], "mobile": "13946885253", "email": "biz1@example.test", "webhook_url": null, "webhook_secret": null, "wechat_openid": "oTest00000000000000000000001", "channels": ["sms", "email"], "quiet_hours": null, "daily_cap": 5, "consent": true, "credit_code": "91370100000000001W", "consent_at": "2026-12-02T07:48:04.295783Z", "unsubscribed": [], "webhook_disabled": false, "origin": "operator", "verified": [], "paused": false}','2026-12-02 07:48:04.301340');
CREATE TABLE timeline (
	event_id VARCHAR(64) NOT NULL,
	publication_id VARCHAR(40) NOT NULL,
	version INTEGER NOT NULL,
	channel VARCHAR(30),
	status VARCHAR(20) NOT NULL,
	detail TEXT,
	at DATETIME NOT NULL,
	actor VARCHAR(120),
	PRIMARY KEY (event_id)
);
INSERT INTO "timeline" VALUES('evt_portal','pub_00000000000000000001',1,'portal','delivered',NULL,'2026-12-02 07:48:04.105380',NULL);
INSERT INTO "timeline" VALUES('evt_wechat','pub_00000000000000000001',1,'wechat','delivered',NULL,'2026-12-02 07:48:04.173354',NULL);
INSERT INTO "timeline" VALUES('evt_weibo','pub_00000000000000000001',1,'weibo','delivered',NULL,'2026-12-02 07:48:04.193369',NULL);
CREATE TABLE tokens (
	id VARCHAR(40) NOT NULL,
	kind VARCHAR(20) NOT NULL,
	name VARCHAR(100) NOT NULL,
	publisher_code VARCHAR(40),
	token_hash VARCHAR(64) NOT NULL,
	created_at DATETIME NOT NULL,
	revoked BOOLEAN NOT NULL,
	expires_at DATETIME,
	revoked_at DATETIME,
	PRIMARY KEY (id),
	UNIQUE (token_hash)
);
INSERT INTO "tokens" VALUES('prn_dept0000000000000001','department','济南市人民政府办公厅（演示）','11370100004188591X','3e68b059f5e7b3811e66e83dd75876cb49c62cedcf9b42cb9bffcf0244a0d7db','2026-12-02 07:48:04.048501',0,NULL,NULL);
CREATE INDEX ix_expiries_expires_on ON expiries (expires_on);
CREATE INDEX ix_publications_category_date ON publications (category, publish_date);
CREATE INDEX ix_publications_created_at ON publications (created_at);
CREATE INDEX ix_publications_status ON publications (status);
CREATE INDEX ix_publications_created_id ON publications (created_at, id);
CREATE INDEX ix_publications_department_created ON publications (department, created_at, id);
CREATE INDEX ix_publications_department ON publications (department);
CREATE INDEX ix_deliveries_channel_status ON deliveries (channel, status);
CREATE INDEX ix_deliveries_updated ON deliveries (updated_at);
CREATE INDEX ix_timeline_publication ON timeline (publication_id, at);
CREATE INDEX ix_dead_letters_publication ON dead_letters (publication_id);
CREATE INDEX ix_dead_letters_open ON dead_letters (channel, requeued_at, at);
CREATE INDEX ix_delivery_outcomes_channel_at ON delivery_outcomes (channel, at);
CREATE INDEX ix_console_sessions_last_seen ON console_sessions (last_seen);
CREATE INDEX ix_audit_log_at ON audit_log (at);
CREATE INDEX ix_audit_log_actor_id ON audit_log (actor_id);
CREATE INDEX ix_audit_log_action ON audit_log (action);
CREATE INDEX ix_audit_log_target ON audit_log (target);
CREATE INDEX ix_ledger_external_ref ON adapter_ledger (channel, external_ref);
CREATE INDEX ix_push_recipients_pub ON push_recipients (publication_id, version);
CREATE INDEX ix_push_recipients_day ON push_recipients (credit_code, day);
CREATE INDEX ix_push_confirmations_credit_code ON push_confirmations (credit_code);
CREATE INDEX ix_push_confirmation_sends_key ON push_confirmation_sends ("key", at);
CREATE INDEX ix_push_subscriber_history_credit_code ON push_subscriber_history (credit_code);
DELETE FROM "sqlite_sequence";
INSERT INTO "sqlite_sequence" VALUES('outbox',1);
INSERT INTO "sqlite_sequence" VALUES('audit_log',1);
COMMIT;
