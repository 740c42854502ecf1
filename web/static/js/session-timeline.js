/* A live session's minute timeline: online and entering viewers (left axis), GMV per minute
   (right axis, yuan), product explanation windows as shaded bands. Data: #timeline-data. */
(function () {
  var holder = document.getElementById('timeline');
  var source = document.getElementById('timeline-data');
  if (!holder || !source || typeof echarts === 'undefined') { return; }
  var data = JSON.parse(source.textContent);
  var esc = echarts.format.encodeHTML;
  var bands = data.bands.map(function (b) {
    return [{name: b.name, xAxis: b.from}, {xAxis: b.to}];
  });
  var chart = echarts.init(holder);
  chart.setOption({
    animation: false,
    tooltip: {
      trigger: 'axis',
      formatter: function (items) {
        var at = items.length ? items[0].dataIndex : -1;
        var lines = [esc(items.length ? String(items[0].axisValue) : '')];
        items.forEach(function (it) { lines.push(it.marker + esc(it.seriesName) + ': ' + esc(String(it.value))); });
        data.bands.forEach(function (b) {
          if (b.from <= at && at <= b.to) { lines.push(esc(data.names.explaining) + ': ' + esc(b.name)); }
        });
        return lines.join('<br>');
      }
    },
    legend: {top: 0, data: [data.names.online, data.names.entering, data.names.gmv]},
    grid: {left: 48, right: 56, top: 40, bottom: 56},
    dataZoom: [{type: 'inside'}, {type: 'slider', height: 18, bottom: 8}],
    xAxis: {type: 'category', boundaryGap: false, data: data.labels},
    yAxis: [
      {type: 'value', splitLine: {lineStyle: {color: '#eef0f2'}}},
      {type: 'value', position: 'right', axisLabel: {formatter: '¥{value}'}, splitLine: {show: false}}
    ],
    series: [
      {
        name: data.names.online, type: 'line', showSymbol: false, data: data.online,
        lineStyle: {width: 2}, itemStyle: {color: '#b4232c'},
        markArea: {
          silent: true,
          itemStyle: {color: 'rgba(47, 125, 79, 0.10)'},
          label: {show: false},
          data: bands
        }
      },
      {name: data.names.entering, type: 'line', showSymbol: false, data: data.entering, itemStyle: {color: '#1d5fa8'}},
      {name: data.names.gmv, type: 'bar', yAxisIndex: 1, data: data.gmv, itemStyle: {color: '#b7791f'}, barMaxWidth: 6}
    ]
  });
  window.addEventListener('resize', function () { chart.resize(); });
})();
