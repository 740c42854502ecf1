/* The public board: draws the figures of #board-data, then keeps them live from the event
   stream (EventSource reconnects by itself; the server sends the whole board each time). */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('board-config').textContent);
  var labels = config.labels;
  var board = JSON.parse(document.getElementById('board-data').textContent);
  var seen = {};
  var chart = null;
  document.documentElement.className += ' js';

  function money(fen) {
    var sign = fen < 0 ? '-' : '';
    var abs = Math.abs(fen);
    var yuan = Math.floor(abs / 100);
    var cents = String(abs % 100);
    return sign + '¥' + yuan.toLocaleString('en-US') + '.' + (cents.length < 2 ? '0' + cents : cents);
  }
  function count(n) { return Number(n).toLocaleString('en-US'); }
  function clock(iso) { return String(iso).slice(11, 19); }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function setFigure(id, value, text) {
    var node = document.getElementById(id);
    if (!node) { return; }
    if (node.getAttribute('data-value') !== String(value)) {
      node.setAttribute('data-value', String(value));
      node.textContent = text;
      node.classList.add('flash');
      setTimeout(function () { node.classList.remove('flash'); }, 900);
    }
  }

  function bars(id, items) {
    var list = document.getElementById(id);
    list.textContent = '';
    if (!items.length) { list.appendChild(el('li', 'none', labels.none)); return; }
    var top = items[0].amount_fen || 1;
    items.forEach(function (item) {
      var li = el('li');
      var name = el('span', 'bar-name', item.name);
      if (id === 'sessions' && item.detail) { name.appendChild(document.createTextNode(' ')); name.appendChild(el('small', '', item.detail)); }
      li.appendChild(name);
      li.appendChild(el('span', 'bar-value', money(item.amount_fen)));
      var bar = el('span', 'bar');
      bar.style.width = Math.max(0, Math.round(1000 * item.amount_fen / top) / 10) + '%';
      li.appendChild(bar);
      list.appendChild(li);
    });
  }

  function ticker(items, first) {
    var list = document.getElementById('ticker');
    list.textContent = '';
    if (!items.length) { list.appendChild(el('li', 'none', labels.none)); return; }
    items.forEach(function (o) {
      var li = el('li');
      li.setAttribute('data-key', String(o.key));
      if (!first && !seen[o.key]) { li.className = 'new'; }
      seen[o.key] = true;
      li.appendChild(el('time', '', clock(o.paid_at)));
      var product = el('span', 't-product', o.product);
      if (o.lines > 1) {
        product.appendChild(document.createTextNode(' '));
        product.appendChild(el('small', '', labels.more_lines.replace('{n}', String(o.lines - 1))));
      }
      li.appendChild(product);
      li.appendChild(el('span', 't-channel', o.channel));
      li.appendChild(el('span', 't-amount', money(o.amount_fen)));
      list.appendChild(li);
    });
  }

  function unitsChart(units) {
    var holder = document.getElementById('units-chart');
    if (typeof echarts === 'undefined' || !holder) { return; }
    if (!chart) {
      chart = echarts.init(holder, null, {renderer: 'canvas'});
      window.addEventListener('resize', function () { chart.resize(); });
    }
    var rows = units.slice().reverse();
    var big = window.innerWidth >= 1400;
    var narrow = window.innerWidth < 500;
    // A row per unit, at the top: a few units are a few bars, not bars spread over the panel.
    var rowHeight = big ? 56 : 38;
    if (!big) {
      var wanted = Math.max(120, rows.length * rowHeight + 8) + 'px';
      if (holder.style.height !== wanted) { holder.style.height = wanted; chart.resize(); }
    }
    var height = Math.max(rowHeight, Math.min(holder.clientHeight - 8, rows.length * rowHeight));
    chart.setOption({
      animationDurationUpdate: 600,
      grid: {left: 8, right: narrow ? 86 : 120, top: 4, height: height, containLabel: true},
      tooltip: {trigger: 'axis', axisPointer: {type: 'shadow'},
        valueFormatter: function (v) { return money(Math.round(v * 100)); }},
      xAxis: {type: 'value', show: false},
      yAxis: {type: 'category', data: rows.map(function (u) { return u.name; }),
        axisLine: {show: false}, axisTick: {show: false},
        axisLabel: {color: '#e8f1ff', fontSize: big ? 16 : 12, width: narrow ? 120 : 220, overflow: 'truncate'}},
      series: [{
        type: 'bar', name: labels.amount, barMaxWidth: big ? 30 : 18,
        data: rows.map(function (u) { return u.amount_fen / 100; }),
        itemStyle: {borderRadius: [0, 4, 4, 0], color: new echarts.graphic.LinearGradient(0, 0, 1, 0,
          [{offset: 0, color: '#2f8cff'}, {offset: 1, color: '#4dd6ff'}])},
        label: {show: true, position: 'right', color: '#ffcc4d', fontSize: big ? 16 : 12,
          formatter: function (p) { return money(Math.round(p.value * 100)); }}
      }]
    });
  }

  function setSplit(id, tally) {
    var node = document.getElementById(id);
    if (!node || tally.certified_fen === undefined) { return; }
    node.setAttribute('data-certified', tally.certified_fen);
    node.setAttribute('data-uncertified', tally.uncertified_fen);
    node.querySelector('.c').textContent = money(tally.certified_fen);
    node.querySelector('.u').textContent = money(tally.uncertified_fen);
  }

  function draw(data, first) {
    board = data;
    setFigure('today-orders', data.today.orders, count(data.today.orders));
    setFigure('today-amount', data.today.amount_fen, money(data.today.amount_fen));
    setFigure('year-orders', data.cumulative.orders, count(data.cumulative.orders));
    setFigure('year-amount', data.cumulative.amount_fen, money(data.cumulative.amount_fen));
    setSplit('today-split', data.today);
    setSplit('year-split', data.cumulative);
    var asOf = document.getElementById('as-of');
    asOf.setAttribute('datetime', data.as_of);
    asOf.textContent = clock(data.as_of);
    unitsChart(data.units);
    bars('products', data.products);
    bars('sessions', data.sessions);
    ticker(data.ticker, first);
    document.body.setAttribute('data-version', String(data.version || 0));
  }

  function status(live) {
    var node = document.getElementById('status');
    node.setAttribute('data-state', live ? 'live' : 'offline');
    node.querySelector('.status-text').textContent = live ? labels.live : labels.offline;
  }

  draw(board, true);
  if (typeof EventSource === 'undefined') { return; }
  var source = new EventSource(config.events);
  source.addEventListener('open', function () { status(true); });
  source.addEventListener('error', function () { status(false); });
  source.addEventListener('board', function (event) {
    status(true);
    draw(JSON.parse(event.data), false);
  });
})();
