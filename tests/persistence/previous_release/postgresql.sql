-- A status-store database as the last release before Alembic (commit f9d6374) left it: its StatusStore,
-- Ledger, SubscriberStore and SelfService created their tables at start, then one publication with three
-- delivered channels, a department token, an idempotent answer, a 索引号 counter, an outbox message, an audit
-- row, a console session, a ledger entry and a subscribed business were written through their methods.
-- Dumped with pg_dump --inserts --no-owner --no-privileges from its own schema; the schema name and psql
-- meta-commands stripped, so it loads into whatever schema search_path names.
-- tests/persistence/test_migrations.py upgrades it in place.
SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

CREATE TABLE adapter_ledger (
    channel character varying(30) NOT NULL,
    delivery_id character varying(64) NOT NULL,
    external_ref character varying(200),
    facts text NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE archived_index_nos (
    index_no character varying(80) NOT NULL
);

CREATE TABLE audit_log (
    seq integer NOT NULL,
    at timestamp with time zone NOT NULL,
    actor_id character varying(40) NOT NULL,
    actor_name character varying(100) NOT NULL,
    actor_kind character varying(20) NOT NULL,
    action character varying(40) NOT NULL,
    target character varying(60) NOT NULL,
    detail text NOT NULL,
    client character varying(64),
    prev_hash character varying(64) NOT NULL,
    hash character varying(64) NOT NULL
);

CREATE SEQUENCE audit_log_seq_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE audit_log_seq_seq OWNED BY audit_log.seq;

CREATE TABLE channel_pauses (
    channel character varying(30) NOT NULL,
    paused_by character varying(120) NOT NULL,
    reason text NOT NULL,
    paused_at timestamp with time zone NOT NULL
);

CREATE TABLE console_sessions (
    id_hash character varying(64) NOT NULL,
    principal_id character varying(40) NOT NULL,
    csrf character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    last_seen timestamp with time zone NOT NULL
);

CREATE TABLE dead_letters (
    event_id character varying(64) NOT NULL,
    kind character varying(20) NOT NULL,
    publication_id character varying(40),
    version integer,
    channel character varying(30),
    recipient character varying(40),
    reason text NOT NULL,
    event text NOT NULL,
    at timestamp with time zone NOT NULL,
    requeued_at timestamp with time zone,
    requeued_by character varying(120)
);

CREATE TABLE deliveries (
    publication_id character varying(40) NOT NULL,
    channel character varying(30) NOT NULL,
    version integer NOT NULL,
    status character varying(20) NOT NULL,
    url text,
    detail text,
    progress integer,
    updated_at timestamp with time zone NOT NULL,
    queued_at timestamp with time zone
);

CREATE TABLE delivery_outcomes (
    event_id character varying(64) NOT NULL,
    channel character varying(30) NOT NULL,
    outcome character varying(20) NOT NULL,
    latency_ms integer,
    detail text,
    at timestamp with time zone NOT NULL
);

CREATE TABLE expiries (
    publication_id character varying(40) NOT NULL,
    expires_on date NOT NULL
);

CREATE TABLE idempotency (
    principal character varying(40) NOT NULL,
    key character varying(200) NOT NULL,
    request_hash character varying(64) NOT NULL,
    status_code integer NOT NULL,
    response text NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE TABLE index_sequences (
    publisher_code character varying(40) NOT NULL,
    year integer NOT NULL,
    last integer NOT NULL
);

CREATE TABLE outbox (
    seq integer NOT NULL,
    topic character varying(100) NOT NULL,
    key character varying(200) NOT NULL,
    event text NOT NULL,
    created_at timestamp with time zone NOT NULL
);

CREATE SEQUENCE outbox_seq_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE outbox_seq_seq OWNED BY outbox.seq;

CREATE TABLE publications (
    id character varying(40) NOT NULL,
    department character varying(40) NOT NULL,
    kind character varying(20) NOT NULL,
    title text NOT NULL,
    index_no character varying(60) NOT NULL,
    category character varying(50) NOT NULL,
    version integer NOT NULL,
    status character varying(20) NOT NULL,
    channels text NOT NULL,
    publish_at timestamp with time zone,
    released_version integer,
    retracted boolean NOT NULL,
    doc text NOT NULL,
    created_at timestamp with time zone NOT NULL,
    updated_at timestamp with time zone NOT NULL,
    doc_no character varying(100),
    publish_date date,
    validity character varying(10),
    related_ids text
);

CREATE TABLE push_campaigns (
    publication_id character varying(40) NOT NULL,
    version integer NOT NULL,
    queued integer NOT NULL,
    deferred integer NOT NULL,
    sent integer NOT NULL,
    delivered integer NOT NULL,
    failed integer NOT NULL,
    skipped integer NOT NULL,
    unsubscribed integer NOT NULL
);

CREATE TABLE push_clicks (
    publication_id character varying(40) NOT NULL,
    channel character varying(20) NOT NULL,
    clicks integer NOT NULL
);

CREATE TABLE push_confirmation_sends (
    id integer NOT NULL,
    key character varying(64) NOT NULL,
    at timestamp with time zone NOT NULL
);

CREATE SEQUENCE push_confirmation_sends_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE push_confirmation_sends_id_seq OWNED BY push_confirmation_sends.id;

CREATE TABLE push_confirmations (
    id character varying(32) NOT NULL,
    credit_code character varying(18) NOT NULL,
    purpose character varying(10) NOT NULL,
    channel character varying(10) NOT NULL,
    secret_mac character varying(64) NOT NULL,
    doc text,
    created_at timestamp with time zone NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    attempts integer NOT NULL,
    used_at timestamp with time zone
);

CREATE TABLE push_directory (
    id integer NOT NULL,
    revision integer NOT NULL
);

CREATE SEQUENCE push_directory_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE push_directory_id_seq OWNED BY push_directory.id;

CREATE TABLE push_directory_tallies (
    name character varying(40) NOT NULL,
    n integer NOT NULL
);

CREATE TABLE push_recipients (
    delivery_id character varying(64) NOT NULL,
    publication_id character varying(40) NOT NULL,
    version integer NOT NULL,
    credit_code character varying(18) NOT NULL,
    status character varying(20) NOT NULL,
    channel character varying(20),
    detail text,
    day character varying(10),
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE push_secrets (
    name character varying(40) NOT NULL,
    value character varying(200) NOT NULL
);

CREATE TABLE push_subscriber_history (
    id integer NOT NULL,
    credit_code character varying(18) NOT NULL,
    at timestamp with time zone NOT NULL,
    actor character varying(20) NOT NULL,
    change text NOT NULL
);

CREATE SEQUENCE push_subscriber_history_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

ALTER SEQUENCE push_subscriber_history_id_seq OWNED BY push_subscriber_history.id;

CREATE TABLE push_subscribers (
    credit_code character varying(18) NOT NULL,
    region character varying(30) NOT NULL,
    industry character varying(5) NOT NULL,
    scale character varying(10) NOT NULL,
    qualifications text NOT NULL,
    topics text NOT NULL,
    active boolean NOT NULL,
    doc text NOT NULL,
    updated_at timestamp with time zone NOT NULL
);

CREATE TABLE timeline (
    event_id character varying(64) NOT NULL,
    publication_id character varying(40) NOT NULL,
    version integer NOT NULL,
    channel character varying(30),
    status character varying(20) NOT NULL,
    detail text,
    at timestamp with time zone NOT NULL,
    actor character varying(120)
);

CREATE TABLE tokens (
    id character varying(40) NOT NULL,
    kind character varying(20) NOT NULL,
    name character varying(100) NOT NULL,
    publisher_code character varying(40),
    token_hash character varying(64) NOT NULL,
    created_at timestamp with time zone NOT NULL,
    revoked boolean NOT NULL,
    expires_at timestamp with time zone,
    revoked_at timestamp with time zone
);

ALTER TABLE ONLY audit_log ALTER COLUMN seq SET DEFAULT nextval('audit_log_seq_seq'::regclass);

ALTER TABLE ONLY outbox ALTER COLUMN seq SET DEFAULT nextval('outbox_seq_seq'::regclass);

ALTER TABLE ONLY push_confirmation_sends ALTER COLUMN id SET DEFAULT nextval('push_confirmation_sends_id_seq'::regclass);

ALTER TABLE ONLY push_directory ALTER COLUMN id SET DEFAULT nextval('push_directory_id_seq'::regclass);

ALTER TABLE ONLY push_subscriber_history ALTER COLUMN id SET DEFAULT nextval('push_subscriber_history_id_seq'::regclass);

INSERT INTO adapter_ledger VALUES ('wechat', 'dlv_fixture_0001', 'publish_42', '{"media_id": "m_1"}', '2026-12-02 07:48:15.689253+00');

INSERT INTO audit_log VALUES (1, '2026-12-02 07:48:15.674241+00', 'prn_dept0000000000000001', '济南市人民政府办公厅（演示）', 'department', 'publication.submit', 'pub_00000000000000000001', '{"title": "济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知"}', NULL, '0000000000000000000000000000000000000000000000000000000000000000', '1ca23452c003cf15dfac7d868764c6ec47f54a8db9c26758d33582ce76c6b626');

INSERT INTO console_sessions VALUES ('ca83895d6c91d6ec28b6b336808f22a96ab0e7f4be5b433294fa348410857f10', 'prn_dept0000000000000001', 'zfHBO-jXNWHFlbHIWmezA_A1AumAT4EudTWia5m5gOA', '2026-12-02 07:48:15.742823+00', '2026-12-02 07:48:15.742823+00');

INSERT INTO deliveries VALUES ('pub_00000000000000000001', 'portal', 1, 'delivered', 'https://gov.test/portal/1', NULL, NULL, '2026-12-02 07:48:15.453462+00', '2026-12-02 07:48:15.453462+00');
INSERT INTO deliveries VALUES ('pub_00000000000000000001', 'wechat', 1, 'delivered', 'https://gov.test/wechat/1', NULL, NULL, '2026-12-02 07:48:15.59942+00', '2026-12-02 07:48:15.59942+00');
INSERT INTO deliveries VALUES ('pub_00000000000000000001', 'weibo', 1, 'delivered', 'https://gov.test/weibo/1', NULL, NULL, '2026-12-02 07:48:15.627657+00', '2026-12-02 07:48:15.627657+00');

INSERT INTO delivery_outcomes VALUES ('evt_portal', 'portal', 'delivered', 0, '', '2026-12-02 07:48:15.453462+00');
INSERT INTO delivery_outcomes VALUES ('evt_wechat', 'wechat', 'delivered', 0, '', '2026-12-02 07:48:15.59942+00');
INSERT INTO delivery_outcomes VALUES ('evt_weibo', 'weibo', 'delivered', 0, '', '2026-12-02 07:48:15.627657+00');

INSERT INTO idempotency VALUES ('prn_dept0000000000000001', 'cms-0001', '0000000000000000000000000000000000000000000000000000000000000000', 202, '{"id": "pub_00000000000000000001"}', '2026-12-02 07:48:15.656735+00');

INSERT INTO index_sequences VALUES ('11370100004188591X', 2025, 1);

INSERT INTO outbox VALUES (1, 'govcast.status', 'pub_00000000000000000001', '{"specversion":"1.0","id":"evt_outbox_fixture","source":"/fixture","type":"govcast.status.changed","subject":"pub_00000000000000000001","time":"2026-12-02T07:48:15.661198Z","datacontenttype":"application/json","data":{"n":1}}', '2026-12-02 07:48:15.661254+00');

INSERT INTO publications VALUES ('pub_00000000000000000001', '11370100004188591X', 'policy', '济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知', '11370100004188591X/2025-00001', '政策文件', 1, 'delivered', '["portal", "wechat", "weibo"]', NULL, NULL, false, '{"title":"济南市人民政府办公厅关于印发2025年济南市政务公开工作要点的通知","body":"<p>各区县人民政府，市政府各部门（单位）：</p><p>《2025年济南市政务公开工作要点》已经市政府同意，现印发给你们，请认真贯彻落实。</p><h2>一、做实重点领域主动公开</h2><p>及时公开绿色低碳发展、城市更新、乡村振兴等政策信息，做好就业创业、教育、养老服务等民生领域信息公开。</p><h2>二、推进政策服务提质增效</h2><p>加强全市政府文件库建设，优化政策信息点对点推送，政策文件与解读材料同步起草、同步审签、同步发布。</p><h2>三、打造集约高效公开平台</h2><p>实现政府网站、12345热线、政务服务平台、政务新媒体等多渠道信息数据共享。</p>","summary":"部署2025年全市政务公开重点任务：重点领域主动公开、政策服务提质增效、政民政企互动、依申请公开和平台建设。","kind":"policy","index_no":"11370100004188591X/2025-00001","category":"政策文件","theme":"综合政务\\政务公开","publisher":"济南市人民政府办公厅（演示）","publisher_code":"11370100004188591X","written_date":"2025-03-04","publish_date":"2025-03-05","doc_no":"济政办字〔2025〕8号","validity":"有效","keywords":["政务公开","工作要点"],"related":[],"attachments":[],"review":[{"stage":"初审","reviewer":"王敏","at":"2025-03-03T09:10:00+08:00"},{"stage":"复审","reviewer":"李强","at":"2025-03-03T15:40:00+08:00"},{"stage":"终审","reviewer":"张红","at":"2025-03-04T10:05:00+08:00"}],"channels":["portal","wechat","weibo"],"targeting":null,"publish_at":null,"units":[],"disclosure_matter":null,"issuers":[],"normative":false,"normative_no":"","effective_date":null,"expiry_date":null,"change_note":"","id":"pub_00000000000000000001","version":1,"department":"11370100004188591X","index":{"code":"11370100004188591X","year":2025,"sequence":1,"width":5},"body_html":"<p>各区县人民政府，市政府各部门（单位）：</p><p>《2025年济南市政务公开工作要点》已经市政府同意，现印发给你们，请认真贯彻落实。</p><h2>一、做实重点领域主动公开</h2><p>及时公开绿色低碳发展、城市更新、乡村振兴等政策信息，做好就业创业、教育、养老服务等民生领域信息公开。</p><h2>二、推进政策服务提质增效</h2><p>加强全市政府文件库建设，优化政策信息点对点推送，政策文件与解读材料同步起草、同步审签、同步发布。</p><h2>三、打造集约高效公开平台</h2><p>实现政府网站、12345热线、政务服务平台、政务新媒体等多渠道信息数据共享。</p>","body_text":"各区县人民政府，市政府各部门（单位）：\n《2025年济南市政务公开工作要点》已经市政府同意，现印发给你们，请认真贯彻落实。\n一、做实重点领域主动公开\n及时公开绿色低碳发展、城市更新、乡村振兴等政策信息，做好就业创业、教育、养老服务等民生领域信息公开。\n二、推进政策服务提质增效\n加强全市政府文件库建设，优化政策信息点对点推送，政策文件与解读材料同步起草、同步审签、同步发布。\n三、打造集约高效公开平台\n实现政府网站、12345热线、政务服务平台、政务新媒体等多渠道信息数据共享。","submitted_at":"2025-03-05T09:00:00+08:00","retracted":false,"retract_reason":null,"lapsed_by":null}', '2026-12-02 07:48:15.42246+00', '2026-12-02 07:48:15.642873+00', '济政办字〔2025〕8号', '2025-03-05', '有效', '[]');

INSERT INTO push_directory VALUES (1, 1);

INSERT INTO push_subscribers VALUES ('91370100000000001W', '槐荫区', 'F5123', '大型', '高新技术企业', '消费|绿色低碳|对外贸易', true, '{"name": "济南测试企业000001有限公司", "region": "槐荫区", "industry": "F5123", "scale": "大型", "qualifications": ["高新技术企业"], "topics": ["消费", "绿色低碳", "对外贸易"], "mobile": "13946885253", "email": "biz1@example.test", "webhook_url": null, "webhook_secret": null, "wechat_openid": "oTest00000000000000000000001", "channels": ["sms", "email"], "quiet_hours": null, "daily_cap": 5, "consent": true, "credit_code": "91370100000000001W", "consent_at": "2026-12-02T07:48:15.706128Z", "unsubscribed": [], "webhook_disabled": false, "origin": "operator", "verified": [], "paused": false}', '2026-12-02 07:48:15.713676+00');

INSERT INTO timeline VALUES ('evt_portal', 'pub_00000000000000000001', 1, 'portal', 'delivered', NULL, '2026-12-02 07:48:15.453462+00', NULL);
INSERT INTO timeline VALUES ('evt_wechat', 'pub_00000000000000000001', 1, 'wechat', 'delivered', NULL, '2026-12-02 07:48:15.59942+00', NULL);
INSERT INTO timeline VALUES ('evt_weibo', 'pub_00000000000000000001', 1, 'weibo', 'delivered', NULL, '2026-12-02 07:48:15.627657+00', NULL);

INSERT INTO tokens VALUES ('prn_dept0000000000000001', 'department', '济南市人民政府办公厅（演示）', '11370100004188591X', '3e68b059f5e7b3811e66e83dd75876cb49c62cedcf9b42cb9bffcf0244a0d7db', '2026-12-02 07:48:15.399319+00', false, NULL, NULL);

SELECT pg_catalog.setval('audit_log_seq_seq', 1, true);

SELECT pg_catalog.setval('outbox_seq_seq', 1, true);

SELECT pg_catalog.setval('push_confirmation_sends_id_seq', 1, false);

SELECT pg_catalog.setval('push_directory_id_seq', 1, false);

SELECT pg_catalog.setval('push_subscriber_history_id_seq', 1, false);

ALTER TABLE ONLY adapter_ledger
    ADD CONSTRAINT adapter_ledger_pkey PRIMARY KEY (channel, delivery_id);

ALTER TABLE ONLY archived_index_nos
    ADD CONSTRAINT archived_index_nos_pkey PRIMARY KEY (index_no);

ALTER TABLE ONLY audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (seq);

ALTER TABLE ONLY channel_pauses
    ADD CONSTRAINT channel_pauses_pkey PRIMARY KEY (channel);

ALTER TABLE ONLY console_sessions
    ADD CONSTRAINT console_sessions_pkey PRIMARY KEY (id_hash);

ALTER TABLE ONLY dead_letters
    ADD CONSTRAINT dead_letters_pkey PRIMARY KEY (event_id);

ALTER TABLE ONLY deliveries
    ADD CONSTRAINT deliveries_pkey PRIMARY KEY (publication_id, channel);

ALTER TABLE ONLY delivery_outcomes
    ADD CONSTRAINT delivery_outcomes_pkey PRIMARY KEY (event_id);

ALTER TABLE ONLY expiries
    ADD CONSTRAINT expiries_pkey PRIMARY KEY (publication_id);

ALTER TABLE ONLY idempotency
    ADD CONSTRAINT idempotency_pkey PRIMARY KEY (principal, key);

ALTER TABLE ONLY index_sequences
    ADD CONSTRAINT index_sequences_pkey PRIMARY KEY (publisher_code, year);

ALTER TABLE ONLY outbox
    ADD CONSTRAINT outbox_pkey PRIMARY KEY (seq);

ALTER TABLE ONLY publications
    ADD CONSTRAINT publications_index_no_key UNIQUE (index_no);

ALTER TABLE ONLY publications
    ADD CONSTRAINT publications_pkey PRIMARY KEY (id);

ALTER TABLE ONLY push_campaigns
    ADD CONSTRAINT push_campaigns_pkey PRIMARY KEY (publication_id, version);

ALTER TABLE ONLY push_clicks
    ADD CONSTRAINT push_clicks_pkey PRIMARY KEY (publication_id, channel);

ALTER TABLE ONLY push_confirmation_sends
    ADD CONSTRAINT push_confirmation_sends_pkey PRIMARY KEY (id);

ALTER TABLE ONLY push_confirmations
    ADD CONSTRAINT push_confirmations_pkey PRIMARY KEY (id);

ALTER TABLE ONLY push_directory
    ADD CONSTRAINT push_directory_pkey PRIMARY KEY (id);

ALTER TABLE ONLY push_directory_tallies
    ADD CONSTRAINT push_directory_tallies_pkey PRIMARY KEY (name);

ALTER TABLE ONLY push_recipients
    ADD CONSTRAINT push_recipients_pkey PRIMARY KEY (delivery_id);

ALTER TABLE ONLY push_secrets
    ADD CONSTRAINT push_secrets_pkey PRIMARY KEY (name);

ALTER TABLE ONLY push_subscriber_history
    ADD CONSTRAINT push_subscriber_history_pkey PRIMARY KEY (id);

ALTER TABLE ONLY push_subscribers
    ADD CONSTRAINT push_subscribers_pkey PRIMARY KEY (credit_code);

ALTER TABLE ONLY timeline
    ADD CONSTRAINT timeline_pkey PRIMARY KEY (event_id);

ALTER TABLE ONLY tokens
    ADD CONSTRAINT tokens_pkey PRIMARY KEY (id);

ALTER TABLE ONLY tokens
    ADD CONSTRAINT tokens_token_hash_key UNIQUE (token_hash);

CREATE INDEX ix_audit_log_action ON audit_log USING btree (action);

CREATE INDEX ix_audit_log_actor_id ON audit_log USING btree (actor_id);

CREATE INDEX ix_audit_log_at ON audit_log USING btree (at);

CREATE INDEX ix_audit_log_target ON audit_log USING btree (target);

CREATE INDEX ix_console_sessions_last_seen ON console_sessions USING btree (last_seen);

CREATE INDEX ix_dead_letters_open ON dead_letters USING btree (channel, requeued_at, at);

CREATE INDEX ix_dead_letters_publication ON dead_letters USING btree (publication_id);

CREATE INDEX ix_deliveries_channel_status ON deliveries USING btree (channel, status);

CREATE INDEX ix_deliveries_updated ON deliveries USING btree (updated_at);

CREATE INDEX ix_delivery_outcomes_channel_at ON delivery_outcomes USING btree (channel, at);

CREATE INDEX ix_expiries_expires_on ON expiries USING btree (expires_on);

CREATE INDEX ix_ledger_external_ref ON adapter_ledger USING btree (channel, external_ref);

CREATE INDEX ix_publications_category_date ON publications USING btree (category, publish_date);

CREATE INDEX ix_publications_created_at ON publications USING btree (created_at);

CREATE INDEX ix_publications_created_id ON publications USING btree (created_at, id);

CREATE INDEX ix_publications_department ON publications USING btree (department);

CREATE INDEX ix_publications_department_created ON publications USING btree (department, created_at, id);

CREATE INDEX ix_publications_status ON publications USING btree (status);

CREATE INDEX ix_push_confirmation_sends_key ON push_confirmation_sends USING btree (key, at);

CREATE INDEX ix_push_confirmations_credit_code ON push_confirmations USING btree (credit_code);

CREATE INDEX ix_push_recipients_day ON push_recipients USING btree (credit_code, day);

CREATE INDEX ix_push_recipients_pub ON push_recipients USING btree (publication_id, version);

CREATE INDEX ix_push_subscriber_history_credit_code ON push_subscriber_history USING btree (credit_code);

CREATE INDEX ix_timeline_publication ON timeline USING btree (publication_id, at);
