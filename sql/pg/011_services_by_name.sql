-- 011_services_by_name (PostgreSQL twin of sql/011_services_by_name.sql):
-- GET /services pages by name in byte order (COLLATE "C"), whatever the
-- database's collation; UNIQUE(name)'s index follows that collation, so a
-- page would sort every service without this one.
CREATE INDEX services_by_name_c ON services (name COLLATE "C");
