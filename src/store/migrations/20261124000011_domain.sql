-- The domain: communes, their sites, the SIEL's catalogue of services, subscriptions of
-- communes to services, and devices placed at a site under a service.

-- A commune, by its INSEE code (2A/2B for Corsica), with its centroid (WGS 84).
CREATE TABLE commune (
    insee     text PRIMARY KEY CHECK (insee ~ '^[0-9][0-9AB][0-9]{3}$'),
    name      text NOT NULL,
    latitude  double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180)
);

-- The communes of the Loire the simulator spreads its fleet over (src/simulate/mod.rs).
-- Operators add others (`store::domain::upsert_commune`).
INSERT INTO commune (insee, name, latitude, longitude) VALUES
    ('42218', 'Saint-Étienne', 45.4397, 4.3872),
    ('42187', 'Roanne', 46.0367, 4.0683),
    ('42207', 'Saint-Chamond', 45.4756, 4.5142),
    ('42095', 'Firminy', 45.3886, 4.2883),
    ('42147', 'Montbrison', 45.6075, 4.0653);

-- A place of a commune where devices are installed: a school, a town hall, a car park.
CREATE TABLE site (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    commune    text NOT NULL REFERENCES commune (insee),
    name       text NOT NULL CHECK (name <> ''),
    address    text,
    latitude   double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude  double precision CHECK (longitude BETWEEN -180 AND 180),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (commune, name)
);

-- The catalogue of services the SIEL offers. `category` ties a service to the device
-- models of that category (air_quality, energy, parking): at every migration the
-- built-in models of the category are added to `models` (store::domain::sync_service_models),
-- so the list follows the binary without a migration per new model; operators may add
-- models of their own to the list. `metrics` are the canonical metrics the service shows;
-- `indicators` what it computes from them ([{id, name, metric, description}]).
CREATE TABLE service (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    category    text CHECK (category IN ('air_quality', 'energy', 'parking')),
    models      text[] NOT NULL DEFAULT '{}',
    metrics     text[] NOT NULL DEFAULT '{}',
    indicators  jsonb NOT NULL DEFAULT '[]'
);

INSERT INTO service (id, name, description, category, metrics, indicators) VALUES
    ('air-quality-schools', 'Air quality in schools',
     'Indoor air quality of classrooms and nurseries: CO2 as a measure of ventilation, '
     'temperature and humidity for comfort, particles and volatile organic compounds where '
     'the sensor measures them.',
     'air_quality',
     ARRAY['air.co2', 'air.temperature', 'air.relative_humidity', 'air.pm25', 'air.pm10', 'air.tvoc',
           'air.tvoc_index', 'air.hcho', 'battery.level', 'battery.voltage'],
     '[{"id": "co2-daily-max", "name": "Highest CO2 of the day", "metric": "air.co2",
        "description": "Daily maximum of the CO2 concentration, in ppm (local-time days)."},
       {"id": "temperature-daily-mean", "name": "Mean temperature of the day", "metric": "air.temperature",
        "description": "Daily mean of the air temperature, in degrees Celsius (local-time days)."}]'),
    ('energy-buildings', 'Energy supervision of public buildings',
     'Electricity, heat and water consumption of town halls, schools, gymnasiums and other '
     'public buildings, from meter indexes, current clamps and pulse counters.',
     'energy',
     ARRAY['energy.active_import', 'power.active', 'electric.current', 'heat.energy', 'heat.power',
           'water.volume', 'pulse.count'],
     '[{"id": "energy-daily", "name": "Energy used per day", "metric": "energy.active_import",
        "description": "Active energy imported per local-time day, in Wh (difference of the meter index)."},
       {"id": "power-daily-peak", "name": "Peak power of the day", "metric": "power.active",
        "description": "Daily maximum of the active power, in W."}]'),
    ('smart-parking', 'Smart parking',
     'Occupancy of parking spaces from in-ground or surface sensors, and vehicle counts at '
     'car-park entrances.',
     'parking',
     ARRAY['parking.occupied', 'parking.vehicle_count', 'battery.voltage'],
     '[{"id": "occupancy-rate", "name": "Occupancy rate", "metric": "parking.occupied",
        "description": "Share of the time the spaces were occupied, in percent."}]');

-- A commune's subscription to a service of the catalogue.
CREATE TABLE subscription (
    commune text NOT NULL REFERENCES commune (insee),
    service text NOT NULL REFERENCES service (id),
    since   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (commune, service)
);
CREATE INDEX subscription_service_idx ON subscription (service);

-- Devices are placed at a site under a service, at their own coordinates; retiring a
-- device (retired_at) keeps its history. device.commune keeps no foreign key to commune:
-- devices registered before this migration may name communes not in the table.
ALTER TABLE device
    ADD COLUMN site_id    bigint REFERENCES site (id),
    ADD COLUMN service_id text REFERENCES service (id),
    ADD COLUMN latitude   double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude  double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN retired_at timestamptz;
CREATE INDEX device_site_idx ON device (site_id);
CREATE INDEX device_service_idx ON device (service_id);
